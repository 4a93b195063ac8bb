"""What every benchmark's command line shares: the common flags, the way a
benchmark runs (scheduling, pinning, uvloop), and the command recorded in its
result file. Each benchmark is a module run from the project root:

    python -m bench.echo_throughput --help
"""

import argparse
import asyncio
import os
import shlex
import sys

from bench import common
from bench.common import install_uvloop, load_average, pin_self, scheduling_label

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def argument_parser(doc, output, *, client=True, duration=None, rounds=None, redis=False):
    """An ArgumentParser described by the first paragraph of `doc`, with the
    flags the benchmarks share: --output always; --server-cpus and
    --client-cpu when a load client runs (`client`); --duration, --rounds
    and --redis-url when given a default (`redis=True` for the last)."""
    parser = argparse.ArgumentParser(prog=" ".join(program()), description=doc.split("\n\n")[0])
    parser.add_argument(
        "--output", default=output, help="name of the JSON file in bench/results/ (default %(default)s)"
    )
    if client:
        parser.add_argument(
            "--server-cpus",
            "--server-cpu",
            dest="server_cpus",
            default="0",
            help="taskset CPU list for the server(s) (default %(default)s)",
        )
        parser.add_argument(
            "--client-cpu",
            type=client_cpu,
            default=1,
            help="core the load client is pinned to, or `any` for none (default %(default)s)",
        )
    if duration is not None:
        parser.add_argument("--duration", type=float, default=duration, help="measured seconds (default %(default)s)")
    if rounds is not None:
        parser.add_argument(
            "--rounds",
            type=int,
            default=rounds,
            help="runs of each server, alternating; medians reported (default %(default)s)",
        )
    if redis:
        parser.add_argument(
            "--redis-url",
            default=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
            help="the Redis of the channel layer (default REDIS_URL or %(default)s)",
        )
    return parser


def names_from(known, everything=None):
    """An argparse type: a comma-separated list of names, each one of `known`
    (any iterable of names); `everything` (as "all") alone stands for all of
    them. An unknown or empty list is a usage error that says the choices."""
    known = list(known)

    def parse(text):
        names = [name for name in text.split(",") if name]
        if everything is not None and names == [everything]:
            return known
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or '(none)'}; choose from {', '.join(known)}"
            )
        return names

    return parse


def client_cpu(text):
    """--client-cpu: a core number, or `any` (None: not pinned)."""
    return None if text == "any" else int(text)


def run(main, args):
    """Run the coroutine function `main(args)` as a benchmark: this process
    pinned to --client-cpu and scheduled as BENCH_SCHED says (the ordinary
    scheduler by default; bench/common.py), uvloop when installed."""
    pin_self(getattr(args, "client_cpu", None))
    if not install_uvloop():
        print("warning: uvloop is not installed; the load client is slower", file=sys.stderr)
    asyncio.run(main(args))


def program():
    """["python", "-m", "bench.<name>"] for the running benchmark."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    return ["python", "-m", spec.name] if spec is not None else ["python", os.path.relpath(sys.argv[0])]


def command_line():
    """How this benchmark was started, for its result file."""
    return " ".join(shlex.quote(part) for part in [*program(), *sys.argv[1:]])


def layout(args, **more):
    """Where the servers and the load client ran and how they were scheduled:
    in every result file, since a figure means little without it."""
    client_cpu = getattr(args, "client_cpu", None)
    return {
        "server_cpus": getattr(args, "server_cpus", None),
        "client_cpu": "any (not pinned)" if client_cpu is None else client_cpu,
        "client_nice": getattr(args, "client_nice", 0),
        "scheduling": scheduling_label(),
        "client_scheduling": common.CLIENT_SCHEDULING,
        "cpu_count": os.cpu_count(),
        "clients": "on the servers' machine, over loopback TCP (a deployment's clients are elsewhere)",
        **more,
    }


def result_head(benchmark, args, machine, **layout_more):
    """The keys every result file starts with: which benchmark, the command
    that ran it, the machine as it was at the start (`machine`, from
    common.machine_state()), the layout (`layout_more` added to it) and the
    load average now, at the end."""
    return {
        "benchmark": benchmark,
        "command": command_line(),
        "machine": machine,
        "layout": layout(args, **layout_more),
        "load_average_at_end": load_average(),
    }
