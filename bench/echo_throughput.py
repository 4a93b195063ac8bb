"""Echo throughput: /ws/echo, N connections (default 50), 64-byte text
messages, ping-pong (each connection waits for its echo before sending the
next; `--pipeline K` keeps K in flight instead), for a fixed duration.

Servers (bench/peers: `--servers`, default all), each started fresh for every
run, pinned to core 0 (`taskset -c 0`):
- ours:         python -m realtime.server (this project)
- stock:        stock Channels AsyncWebsocketConsumer echo (bench/stock_echo.py,
                the tutorial's pattern) on stock Daphne
- stock-uvloop: the same on stock Daphne with uvloop's loop, as ours
- uvicorn:      the same consumer on uvicorn[standard] (uvloop, httptools, websockets)
- websockets:   a raw `websockets` echo server on uvloop (bench/raw_websockets_echo.py)
- gorilla:      gorilla/websocket's echo example in Go (bench/peers/gorilla_echo),
                built at start; "not installed: ..." when Go or the package is missing

One load client for every row, pinned to core 1: `--client go` (default),
bench/peers/loadgen, raw frames in Go, because the Python client
(bench/wsclient.py, `--client python`, used when Go is missing) is itself the
limit against the fastest servers. Its CPU share over the measured window is
printed next to every figure; a figure where it used more than 80% of its
core is marked client-bound (it measures the client, not the server, and
does not count).

Servers run alternately, `--rounds` times each (the order reverses every
round), and the median is reported, because other work may share the
machine; the load average is recorded at the start and around every run.
Scheduling: the ordinary one unless BENCH_SCHED says otherwise (bench/common.py).

    .venv/bin/python -m bench.echo_throughput [--duration 10] [--rounds 3] [--servers ours,websockets]

msg/s counts echoed messages received by the client (one round trip = one
message each way = 1 msg).
"""

import asyncio
import json
import os
import shlex
import shutil
import time

from bench.common import (
    CLIENT_BOUND_SHARE,
    ClientCpu,
    Server,
    competing_processes,
    load_average,
    machine_state,
    median,
    raise_priority,
    scheduling_label,
    write_result,
)
from bench.peers import SERVERS as PEERS
from bench.peers import NotInstalled, go_binary, resolve
from bench.runner import argument_parser, command_line, names_from, run
from bench.wsclient import OP_TEXT, WebSocketClientProtocol, client_frame, close_all, connect_many
from config import settings as project_settings

# Targets: ours/stock >= 2.0 (kept from the first version of this benchmark)
# and ours at least as fast as the best pure-Python server (ours/websockets).
TARGETS = {"ours/stock": 2.0, "ours/websockets": 1.0}
# Our server's flood control (REALTIME_RATE_PER_SECOND per socket, read from
# the project's settings as the server will) must not shape the figure: each
# run reports its fastest connection against it, and a run within 10% of it
# is flagged.
RATE_LIMIT = project_settings.REALTIME_RATE_PER_SECOND

# The peers of bench/peers, ours described with its flood limit; a copy, so
# bench.tracing_overhead can add its own variants.
SERVERS = {name: dict(spec) for name, spec in PEERS.items()}
SERVERS["ours"]["describe"] += f" ({RATE_LIMIT:,.0f} msg/s per socket)"
DEFAULT_SERVERS = "ours,stock,stock-uvloop,uvicorn,websockets,gorilla"

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
        args.connections, "127.0.0.1", [server.port], concurrency=50,
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
    argv = [str(args.go_client), "-addr", f"127.0.0.1:{server.port}", "-path", "/ws/echo",
            "-connections", str(args.connections), "-size", str(args.size), "-pipeline", str(args.pipeline),
            "-warmup", str(args.warmup), "-duration", str(args.duration)]
    if args.client_cpu is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", str(args.client_cpu), *argv]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=raise_priority)
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
                window.update({
                    "client_cpu_share": event["client_cpu_share"],
                    "seconds": seconds,
                    "per_connection": [count / seconds for count in event["per_connection"]],
                    "wrong_echoes": event["wrong_echoes"],
                    "connections_closed_during_run": event["connections_closed_during_run"],
                })
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if "per_connection" not in window:
        error = (await process.stderr.read()).decode(errors="replace").strip()
        raise RuntimeError(f"the Go load client gave no result (exit {process.returncode}): {error}")
    return window


async def run_once(name, args, run_index):
    spec = SERVERS[name]
    server = Server(f"echo-{name}", spec["argv"](), spec["env"](), cpus=args.server_cpus)
    try:
        scheduling = server.scheduling_in_effect()
        window = await (go_window if args.client == "go" else python_window)(server, args)
        load_after = load_average()
        competing = competing_processes()
    finally:
        server.stop()
    per_connection = window["per_connection"]
    rate = sum(per_connection)
    client_share = window["client_cpu_share"]
    server_share = window["server_cpu_share"]
    wrong = window["wrong_echoes"]
    closed = window["connections_closed_during_run"]
    load_before = window["load_average_before"]
    result = {
        "server": name,
        "run": run_index,
        "messages_per_second": round(rate, 1),
        "per_connection_min": round(min(per_connection), 1),
        "per_connection_max": round(max(per_connection), 1),
        "seconds": round(window["seconds"], 3),
        "client": args.client,
        "client_cpu_share": round(client_share, 3),
        "client_bound": client_share > CLIENT_BOUND_SHARE,
        "server_cpu_share": round(server_share, 3),
        # CPU the server spent per echoed message: unlike msg/s, barely moved
        # by other work competing for the server's core.
        "server_cpu_us_per_message": round(server_share / rate * 1e6, 1) if rate else None,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "near_flood_limit": name == "ours" and RATE_LIMIT > 0 and max(per_connection) >= 0.9 * RATE_LIMIT,
        "wrong_echoes": wrong,
        "connections_closed_during_run": closed,
        "server_command": " ".join(shlex.quote(part) for part in server.command),
        "server_scheduling": scheduling,
        "competing_processes": competing,
    }
    print(
        f"  run {run_index} {name:12s} {rate:9.0f} msg/s   client CPU {client_share:5.0%}"
        f"{' CLIENT-BOUND' if result['client_bound'] else ''}   server CPU {server_share:5.0%}"
        f" ({result['server_cpu_us_per_message']} us/msg)"
        f"   load {load_before[0]:.2f}->{load_after[0]:.2f}"
        f"{f'   WRONG ECHOES {wrong}' if wrong else ''}"
        f"{f'   {closed} CLOSED' if closed else ''}"
        f"{f'   {len(competing)} competing processes' if competing else ''}"
        f"{flood_note(per_connection) if result['near_flood_limit'] else ''}",
        flush=True,
    )
    return result


def flood_note(per_connection):
    return f"   NEAR THE FLOOD LIMIT ({max(per_connection):.0f} of {RATE_LIMIT:.0f} msg/s on one socket)"


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


def summarise(names, runs, unavailable):
    summary = {}
    for name in names:
        if name in unavailable:
            summary[name] = {"describe": SERVERS[name]["describe"], "not_installed": unavailable[name],
                             "median_messages_per_second": None}
            continue
        mine = [run for run in runs if run["server"] == name]
        counted = [run["messages_per_second"] for run in mine if not run["client_bound"]]
        summary[name] = {
            "describe": SERVERS[name]["describe"],
            "median_messages_per_second": median([run["messages_per_second"] for run in mine]),
            "median_excluding_client_bound": median(counted),
            "runs_messages_per_second": [run["messages_per_second"] for run in mine],
            "max_client_cpu_share": max(run["client_cpu_share"] for run in mine),
            "median_server_cpu_share": median([run["server_cpu_share"] for run in mine]),
            "median_server_cpu_us_per_message": median([run["server_cpu_us_per_message"] for run in mine]),
            "client_bound_runs": sum(run["client_bound"] for run in mine),
        }
    ratios = {}
    if "ours" in summary and "ours" not in unavailable:
        ours = summary["ours"]["median_excluding_client_bound"]
        for name in names:
            if name == "ours" or name in unavailable:
                continue
            theirs = summary[name]["median_messages_per_second"]
            ratios[f"ours/{name}"] = round(ours / theirs, 2) if ours and theirs else None
            # The same comparison in server CPU per message (theirs/ours).
            cost_ours = summary["ours"]["median_server_cpu_us_per_message"]
            cost_theirs = summary[name].get("median_server_cpu_us_per_message")
            ratios[f"cpu_per_message_{name}/ours"] = (
                round(cost_theirs / cost_ours, 2) if cost_ours and cost_theirs else None
            )
    return summary, ratios


def print_summary(names, summary, ratios):
    print()
    print("median msg/s (client CPU share: max over runs):")
    for name in names:
        item = summary[name]
        if item.get("not_installed"):
            print(f"  {name:12s} {item['not_installed']}")
            continue
        flag = " (some runs CLIENT-BOUND, excluded for ours)" if item["client_bound_runs"] else ""
        print(f"  {name:12s} {item['median_messages_per_second']:9.0f} msg/s   client CPU <= "
              f"{item['max_client_cpu_share']:.0%}   server CPU ~{item['median_server_cpu_share']:.0%}"
              f", {item['median_server_cpu_us_per_message']} us/msg{flag}")
    for key, value in ratios.items():
        if key.startswith("cpu_per_message"):
            continue
        target = TARGETS.get(key)
        verdict = ""
        if target is not None and value is not None:
            verdict = f"  target >= {target}x: " + ("MET" if value >= target else "MISSED")
        print(f"  ratio {key}: {value}x{verdict}")


async def main(args):
    state = machine_state()
    client = choose_client(args)
    print(f"echo throughput: {args.connections} connections, {args.size}-byte text, "
          f"pipeline {args.pipeline}, {args.duration:g} s per run after {args.warmup:g} s warm-up, "
          f"{args.rounds} rounds; server on CPU {args.server_cpus}, client on CPU {args.client_cpu}: {client}")
    print(f"load average at start: {state['load_average_at_start']} (other work may share this machine); "
          f"scheduling: {state['scheduling']} (client: {state['client_scheduling']})")
    if state["competing_processes_at_start"]:
        print("WARNING: other benchmark or real-time processes are running; they compete for the same cores "
              "and these figures may be meaningless:")
        for line in state["competing_processes_at_start"]:
            print(f"    {line}")
    unavailable = {}
    for name in args.servers:
        _, missing = resolve(name, SERVERS)
        if missing:
            unavailable[name] = missing
            print(f"  {name:12s} {missing}")
    names = [name for name in args.servers if name not in unavailable]
    runs = []
    for round_index in range(args.rounds):
        # Alternate the order so no server always runs in the same slot.
        order = names if round_index % 2 == 0 else list(reversed(names))
        for name in order:
            runs.append(await run_once(name, args, round_index))

    summary, ratios = summarise(args.servers, runs, unavailable)
    print_summary(args.servers, summary, ratios)
    load_end = load_average()
    print(f"load average at end: {load_end}")

    command = command_line()
    path = write_result(args.output, {
        "benchmark": "echo_throughput",
        "command": command,
        "machine": state,
        "load_average_at_end": load_end,
        "parameters": {
            "connections": args.connections, "message_bytes": args.size, "pipeline": args.pipeline,
            "duration_seconds": args.duration, "warmup_seconds": args.warmup, "rounds": args.rounds,
            "server_cpu": args.server_cpus, "client_cpu": args.client_cpu,
            "client": client,
            "unit": "echoed messages received by the client per second",
            "client_bound_threshold": CLIENT_BOUND_SHARE,
            "scheduling": scheduling_label(),
        },
        "summary": summary,
        "ratios": ratios,
        "target": {key: value for key, value in TARGETS.items() if key in ratios},
        "runs": runs,
    })
    print(f"written {os.path.relpath(path)}")


def parse_args(argv=None, output="echo_throughput", servers=DEFAULT_SERVERS):
    """This benchmark's arguments; bench.tracing_overhead reuses them with
    its own output name and servers."""
    parser = argument_parser(__doc__, output, duration=10.0, rounds=3)
    parser.add_argument("--servers", default=servers,
                        type=names_from(SERVERS),
                        help="comma-separated, from: " + ", ".join(SERVERS) + " (default %(default)s)")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="go",
                        help="the load client of every row (default %(default)s; python when Go is missing)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--size", type=int, default=64, help="message size in bytes")
    parser.add_argument("--pipeline", type=int, default=1, help="messages in flight per connection (1 = ping-pong)")
    parser.add_argument("--warmup", type=float, default=2.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
