"""Tracing overhead: /ws/echo throughput with request tracing on
(REALTIME_TRACING=1, the default: a "websocket.Receive" trace per message, a
connection event log, the background writer) and the Prometheus metrics on,
against tracing and metrics off (REALTIME_TRACING=0, no metrics port),
measured in the same run.

The echo load of bench.echo_throughput (bench/echo_load.py: its load
client, Go or Python, its pinned server start-up and CPU accounting) against
the registry's `tracing-on` and `tracing-off` servers: the same project
server started fresh for every run with only REALTIME_TRACING and the
metrics port changed, pinned to core 0, the client on core 1; runs
alternate on/off and the median of each is compared.

    .venv/bin/python -m bench.tracing_overhead [--duration 10] [--rounds 3] [--no-profile]

With --profile (the default), one more run of each, not counted, with the
server profiled by thread (py-spy; bench/profiles.py):
<output>.<server>.pyspy.top.txt beside the result. What tracing costs is
then where it is: the main thread's share in the recorder, and the
trace-writer thread's own.

Target: on/off >= 0.90, on throughput (the median msg/s of each).
Also printed: the server's CPU time per message, on and off, and their ratio
(off/on). When other work shares the machine and the server does not get its
core (server CPU well under 100%), msg/s measures the scheduler more than
the server; CPU time per message still measures what tracing costs.
"""

import argparse
import os

from bench import profiles
from bench.common import machine_state, write_result
from bench.echo_load import add_arguments, alternate, choose_client, medians, parameters, profiled_run
from bench.peers.registry import SERVERS
from bench.runner import argument_parser, result_head, run

TARGET_RATIO = 0.90
NAMES = ("tracing-on", "tracing-off")


def ratio(numerator, denominator):
    return round(numerator / denominator, 3) if numerator and denominator else None


def print_summary(summary, on_off, cpu_ratio):
    print()
    for name in NAMES:
        item = summary[name]
        print(
            f"  {name:12s} median {item['median_messages_per_second']:9.0f} msg/s  "
            f"runs {item['runs_messages_per_second']}"
            f"  client CPU <= {item['max_client_cpu_share']:.0%}"
            f"  server CPU ~{item['median_server_cpu_share']:.0%}, {item['median_server_cpu_us_per_message']} us/msg"
            + (f"  (CLIENT-BOUND runs: {item['client_bound_runs']})" if item["client_bound_runs"] else "")
        )
    verdict = "MET" if on_off is not None and on_off >= TARGET_RATIO else "MISSED"
    print(f"  ratio tracing-on/tracing-off: {on_off}x  target >= {TARGET_RATIO}x: {verdict}")
    print(
        f"  server CPU per message: on {summary['tracing-on']['median_server_cpu_us_per_message']} us, "
        f"off {summary['tracing-off']['median_server_cpu_us_per_message']} us: off/on {cpu_ratio}x "
        f"(the throughput a saturated server keeps with tracing on)"
    )


async def main(args):
    state = machine_state()
    client = choose_client(args)
    print(
        f"tracing overhead on /ws/echo: {args.connections} connections, {args.size}-byte text, "
        f"pipeline {args.pipeline}, {args.duration:g} s per run, {args.rounds} rounds"
    )
    peers = [SERVERS[name] for name in NAMES]
    runs = await alternate(peers, args)
    summary = {peer.name: medians(peer, runs) for peer in peers}
    on, off = (summary[name] for name in NAMES)
    on_off = ratio(on["median_messages_per_second"], off["median_messages_per_second"])
    cpu_ratio = ratio(off["median_server_cpu_us_per_message"], on["median_server_cpu_us_per_message"])
    print_summary(summary, on_off, cpu_ratio)
    profiled = await profile_each(peers, args) if args.profile else []
    path = write_result(
        args.output,
        {
            **result_head("tracing_overhead", args, state),
            "parameters": parameters(args, client),
            "summary": summary,
            "ratio_on_off": on_off,
            "cpu_per_message_ratio_off_on": cpu_ratio,
            "target": TARGET_RATIO,
            "profiles": profiled,
            "runs": runs,
        },
    )
    print(f"written {os.path.relpath(path)}")


async def profile_each(peers, args):
    """A profiled run of each server; the profiles' file names."""
    names = []
    for peer in peers:
        raw, top = profiles.paths(f"{args.output}.{peer.name}")
        title = f"py-spy of the {peer.name} server under the echo load, by thread ({args.connections} connections)"
        print(f"  profiling {peer.name} (one more run, not counted)", flush=True)
        if await profiled_run(peer, args, raw, top, title) is not None:
            names.append(top.name)
    return names


def parse_args(argv=None):
    parser = argument_parser(__doc__, "tracing_overhead", duration=10.0, rounds=3)
    add_arguments(parser)
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one more run of each server with py-spy: <output>.<server>.pyspy.top.txt beside the result",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
