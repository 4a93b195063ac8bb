"""The echo load of bench.echo_throughput and bench.tracing_overhead: one
measured window against a server (Go load client or the Python one), a
server started fresh per run, the medians of the runs.

One load client for every row, pinned to --client-cpu: `--client go`
(default), bench/peers/loadgen, raw frames in Go, because the Python client
(bench/wsclient.py, `--client python`, used when Go is missing) is itself
the limit against the fastest servers. Its CPU share over the measured
window is recorded next to every figure; a figure where it used more than
80% of its core is client-bound (it measures the client, not the server,
and does not count).
"""

import asyncio
import json
import shlex
import shutil
import time

from bench import profiles
from bench.common import (
    CLIENT_BOUND_SHARE,
    ClientCpu,
    competing_processes,
    load_average,
    median,
    raise_priority,
)
from bench.peers.go import NotInstalled, go_binary
from bench.processes import Server
from bench.wsclient import OP_TEXT, WebSocketClientProtocol, client_frame, close_all, connect_many
from config import settings as project_settings

# Our server's flood control (REALTIME_RATE_PER_SECOND per socket, read from
# the project's settings as the server will) must not shape the figure: each
# run reports its fastest connection against it, and a run within 10% of it
# is flagged.
RATE_LIMIT = project_settings.REALTIME_RATE_PER_SECOND

CLIENTS = {
    "go": "bench/peers/loadgen (Go, raw frames, one goroutine per connection, GOMAXPROCS = its one core)",
    "python": "bench/wsclient.py (asyncio Protocol on uvloop, pre-built masked frames)",
}


class EchoLoad(WebSocketClientProtocol):
    """Sends a pre-built frame, and another each time an echo comes back."""

    def __init__(self, host, port, path, frame, expected, depth):
        super().__init__(host, port, path)
        self.frame = frame
        self.expected = expected
        self.depth = depth
        self.received = 0
        self.wrong = 0
        self.sending = True

    def on_open(self):
        for _ in range(self.depth):
            self.transport.write(self.frame)

    def on_message(self, opcode, payload):
        # The echo must be the same text message, byte for byte.
        if opcode != OP_TEXT or payload != self.expected:
            self.wrong += 1
        self.received += 1
        if self.sending:
            self.transport.write(self.frame)


async def python_window(server, args):
    """One measured window with the Python client in this process."""
    message = (b"0123456789abcdef" * ((args.size // 16) + 1))[: args.size]
    frame = client_frame(OP_TEXT, message)
    clients = await connect_many(
        lambda index, p: EchoLoad("127.0.0.1", p, "/ws/echo", frame, message, args.pipeline),
        args.connections,
        "127.0.0.1",
        [server.port],
        concurrency=50,
    )
    await asyncio.sleep(args.warmup)
    cpu = ClientCpu()
    load_before = load_average()
    before = [client.received for client in clients]
    server.start_window()
    started = time.monotonic()
    await asyncio.sleep(args.duration)
    elapsed = time.monotonic() - started
    after = [client.received for client in clients]
    window = {
        "client_cpu_share": cpu.share(),
        "server_cpu_share": server.window_share(),
        "seconds": elapsed,
        "per_connection": [(a - b) / elapsed for a, b in zip(after, before, strict=True)],
        "load_average_before": load_before,
    }
    for client in clients:
        client.sending = False
    window["connections_closed_during_run"] = sum(1 for c in clients if not c.is_open)
    window["wrong_echoes"] = sum(client.wrong for client in clients)
    await asyncio.sleep(0.2)  # let in-flight echoes land before closing
    await close_all(clients)
    return window


async def go_window(server, args):
    """One measured window with the Go load client, a subprocess pinned to
    --client-cpu with the benchmark's scheduling; it says when its window
    opens, so the server's CPU is counted over the same window."""
    argv = [
        str(args.go_client),
        "-addr",
        f"127.0.0.1:{server.port}",
        "-path",
        "/ws/echo",
        "-connections",
        str(args.connections),
        "-size",
        str(args.size),
        "-pipeline",
        str(args.pipeline),
        "-warmup",
        str(args.warmup),
        "-duration",
        str(args.duration),
    ]
    if args.client_cpu is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", str(args.client_cpu), *argv]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=raise_priority
    )
    window = {}
    try:
        while line := await asyncio.wait_for(process.stdout.readline(), args.warmup + args.duration + 60):
            event = json.loads(line)
            if event["event"] == "measuring":
                server.start_window()
                window["load_average_before"] = load_average()
            elif event["event"] == "result":
                window["server_cpu_share"] = server.window_share()
                seconds = event["seconds"]
                window.update(
                    {
                        "client_cpu_share": event["client_cpu_share"],
                        "seconds": seconds,
                        "per_connection": [count / seconds for count in event["per_connection"]],
                        "wrong_echoes": event["wrong_echoes"],
                        "connections_closed_during_run": event["connections_closed_during_run"],
                    }
                )
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if "per_connection" not in window:
        error = (await process.stderr.read()).decode(errors="replace").strip()
        raise RuntimeError(f"the Go load client gave no result (exit {process.returncode}): {error}")
    return window


async def run_once(peer, args, run_index):
    """One run of `peer` (a registry Peer), started fresh: its record."""
    server = Server(f"echo-{peer.name}", peer.argv(), peer.env(), cpus=args.server_cpus)
    try:
        scheduling = server.scheduling_in_effect()
        window = await (go_window if args.client == "go" else python_window)(server, args)
        load_after = load_average()
        competing = competing_processes()
    finally:
        server.stop()
    result = run_record(peer.name, run_index, window, args.client)
    result.update(
        load_average_after=load_after,
        competing_processes=competing,
        server_scheduling=scheduling,
        server_command=" ".join(shlex.quote(part) for part in server.command),
    )
    print_run(result)
    return result


async def profiled_run(peer, args, raw_path, top_path, title):
    """One more window of `peer`, not counted (py-spy takes a little of the
    machine), with the server profiled by thread over its measured part
    (bench/profiles.py); the profile's text, or None without py-spy."""
    server = Server(f"echo-profile-{peer.name}", peer.argv(), peer.env(), cpus=args.server_cpus)
    try:
        window = asyncio.ensure_future((go_window if args.client == "go" else python_window)(server, args))
        await asyncio.sleep(args.warmup + 1)
        recording = profiles.start(server.process.pid, max(1, args.duration - 2), raw_path, threads=True)
        await window
        return profiles.finish(recording, raw_path, top_path, title)
    finally:
        server.stop()


def run_record(name, run_index, window, client):
    per_connection = window["per_connection"]
    rate = sum(per_connection)
    server_share = window["server_cpu_share"]
    return {
        "server": name,
        "run": run_index,
        "messages_per_second": round(rate, 1),
        "per_connection_min": round(min(per_connection), 1),
        "per_connection_max": round(max(per_connection), 1),
        "seconds": round(window["seconds"], 3),
        "client": client,
        "client_cpu_share": round(window["client_cpu_share"], 3),
        "client_bound": window["client_cpu_share"] > CLIENT_BOUND_SHARE,
        "server_cpu_share": round(server_share, 3),
        # CPU the server spent per echoed message: unlike msg/s, barely moved
        # by other work competing for the server's core.
        "server_cpu_us_per_message": round(server_share / rate * 1e6, 1) if rate else None,
        "load_average_before": window["load_average_before"],
        "near_flood_limit": name.startswith(("ours", "tracing"))
        and RATE_LIMIT > 0
        and max(per_connection) >= 0.9 * RATE_LIMIT,
        "fastest_connection": round(max(per_connection), 1),
        "wrong_echoes": window["wrong_echoes"],
        "connections_closed_during_run": window["connections_closed_during_run"],
    }


def print_run(result):
    wrong, closed = result["wrong_echoes"], result["connections_closed_during_run"]
    competing = result["competing_processes"]
    print(
        f"  run {result['run']} {result['server']:12s} {result['messages_per_second']:9.0f} msg/s   "
        f"client CPU {result['client_cpu_share']:5.0%}{' CLIENT-BOUND' if result['client_bound'] else ''}   "
        f"server CPU {result['server_cpu_share']:5.0%} ({result['server_cpu_us_per_message']} us/msg)"
        f"   load {result['load_average_before'][0]:.2f}->{result['load_average_after'][0]:.2f}"
        f"{f'   WRONG ECHOES {wrong}' if wrong else ''}"
        f"{f'   {closed} CLOSED' if closed else ''}"
        f"{f'   {len(competing)} competing processes' if competing else ''}"
        f"{flood_note(result['fastest_connection']) if result['near_flood_limit'] else ''}",
        flush=True,
    )


async def alternate(peers, args):
    """`args.rounds` runs of each peer, the order reversed every round so no
    server always runs in the same slot; every run's record."""
    runs = []
    for round_index in range(args.rounds):
        order = peers if round_index % 2 == 0 else list(reversed(peers))
        for peer in order:
            runs.append(await run_once(peer, args, round_index))
    return runs


def medians(peer, runs):
    """The summary of one server's runs."""
    mine = [run for run in runs if run["server"] == peer.name]
    return {
        "describe": peer.describe,
        "median_messages_per_second": median([run["messages_per_second"] for run in mine]),
        "median_excluding_client_bound": median(
            [run["messages_per_second"] for run in mine if not run["client_bound"]]
        ),
        "runs_messages_per_second": [run["messages_per_second"] for run in mine],
        "max_client_cpu_share": max(run["client_cpu_share"] for run in mine),
        "median_server_cpu_share": median([run["server_cpu_share"] for run in mine]),
        "median_server_cpu_us_per_message": median(
            [run["server_cpu_us_per_message"] for run in mine if run["server_cpu_us_per_message"]]
        ),
        "client_bound_runs": sum(run["client_bound"] for run in mine),
    }


def add_arguments(parser):
    """The load's flags, shared by the echo benchmarks."""
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="go",
        help="the load client of every row (default %(default)s; python when Go is missing)",
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--size", type=int, default=64, help="message size in bytes")
    parser.add_argument("--pipeline", type=int, default=1, help="messages in flight per connection (1 = ping-pong)")
    parser.add_argument("--warmup", type=float, default=2.0)


def parameters(args, client):
    """The load's parameters, for the result file."""
    return {
        "connections": args.connections,
        "message_bytes": args.size,
        "pipeline": args.pipeline,
        "duration_seconds": args.duration,
        "warmup_seconds": args.warmup,
        "rounds": args.rounds,
        "client": client,
        "unit": "echoed messages received by the client per second",
        "client_bound_threshold": CLIENT_BOUND_SHARE,
    }


def flood_note(fastest):
    return f"   NEAR THE FLOOD LIMIT ({fastest:.0f} of {RATE_LIMIT:.0f} msg/s on one socket)"


def choose_client(args):
    """The Go load client when it builds here, else the Python one (said)."""
    args.go_client = None
    if args.client == "go":
        try:
            args.go_client = go_binary("loadgen")
        except NotInstalled as missing:
            print(f"Go load client {missing}; every row uses the Python client instead")
            args.client = "python"
    return CLIENTS[args.client]
