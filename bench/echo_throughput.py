"""Echo throughput: /ws/echo, N connections (default 50), 64-byte text
messages, ping-pong (each connection waits for its echo before sending the
next; `--pipeline K` keeps K in flight instead), for a fixed duration.

Servers, each started fresh for every run, pinned to core 0 (`taskset -c 0`):
- ours:  python -m realtime.serve -v 0 -b 127.0.0.1 -p PORT config.asgi:application
- stock: python -m daphne -v 0 -b 127.0.0.1 -p PORT bench.stock_echo:application
         (a stock Channels AsyncWebsocketConsumer echo, the tutorial's pattern)
- websockets (optional, `--servers ours,stock,websockets`): a plain
  `websockets` echo server, bench/raw_websockets_echo.py.

The load client (bench/wsclient.py) runs in this process, pinned to core 1;
its CPU share over the measured window is printed next to every figure, and a
figure where it used more than 80% of its core is marked client-bound (it
measures the client, not the server, and does not count).

Servers run alternately, `--rounds` times each (the first server of a round
alternates too), and the median is reported, because other work may share the
machine; the load average is recorded at the start and around every run.

    .venv/bin/python -m bench.echo_throughput [--duration 10] [--rounds 3]

msg/s counts echoed messages received by the client (one round trip = one
message each way = 1 msg).
"""

import asyncio
import os
import shlex
import time

from bench.common import (
    CLIENT_BOUND_SHARE,
    ClientCpu,
    Server,
    competing_processes,
    load_average,
    machine_state,
    median,
    server_environment,
    write_result,
)
from bench.runner import argument_parser, command_line, run
from bench.wsclient import OP_TEXT, WebSocketClientProtocol, client_frame, close_all, connect_many
from config import settings as project_settings

TARGET_RATIO = 2.0
# Our server's flood control (REALTIME_RATE_PER_SECOND per socket, read from
# the project's settings as the server will) must not shape the figure: each
# run reports its fastest connection against it, and a run within 10% of it
# is flagged.
RATE_LIMIT = project_settings.REALTIME_RATE_PER_SECOND

SERVERS = {
    "ours": {
        "argv": ["{python}", "-m", "realtime.serve", "-v", "0", "-b", "127.0.0.1", "-p", "{port}",
                 "config.asgi:application"],
        "env": lambda: server_environment(),
        "describe": "this project: realtime.serve (Daphne 4.2.3 + realtime/server.py, uvloop), EchoConsumer, "
                    f"project defaults (request tracing on, flood control {RATE_LIMIT:,.0f} msg/s per socket)",
    },
    "stock": {
        "argv": ["{python}", "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", "{port}",
                 "bench.stock_echo:application"],
        # bench.stock_echo configures Django itself; no project settings.
        "env": lambda: {k: v for k, v in server_environment().items() if k != "DJANGO_SETTINGS_MODULE"},
        "describe": "stock Daphne + a stock Channels AsyncWebsocketConsumer echo (bench/stock_echo.py)",
    },
    "websockets": {
        "argv": ["{python}", "-m", "bench.raw_websockets_echo", "{port}"],
        "env": lambda: server_environment(),
        "describe": "a plain `websockets` echo server on uvloop (bench/raw_websockets_echo.py)",
    },
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


async def measure(port, args):
    message = (b"0123456789abcdef" * ((args.size // 16) + 1))[: args.size]
    frame = client_frame(OP_TEXT, message)
    clients = await connect_many(
        lambda index, p: EchoLoad("127.0.0.1", p, "/ws/echo", frame, message, args.pipeline),
        args.connections, "127.0.0.1", [port], concurrency=50,
    )
    await asyncio.sleep(args.warmup)
    return clients


def total(clients):
    return sum(client.received for client in clients)


async def run_once(name, args, run_index):
    spec = SERVERS[name]
    server = Server(f"echo-{name}", spec["argv"], spec["env"](), cpus=args.server_cpus)
    try:
        clients = await measure(server.port, args)
        scheduling = server.scheduling_in_effect()
        cpu = ClientCpu()
        load_before = load_average()
        before = [client.received for client in clients]
        server.start_window()
        started = time.monotonic()
        await asyncio.sleep(args.duration)
        elapsed = time.monotonic() - started
        after = [client.received for client in clients]
        client_share = cpu.share()
        server_share = server.window_share()
        load_after = load_average()
        competing = competing_processes()
        for client in clients:
            client.sending = False
        closed_early = [c.close_code for c in clients if not c.is_open]
        wrong = sum(client.wrong for client in clients)
        await asyncio.sleep(0.2)  # let in-flight echoes land before closing
        await close_all(clients)
    finally:
        server.stop()
    per_connection = [(a - b) / elapsed for a, b in zip(after, before)]
    rate = sum(per_connection)
    result = {
        "server": name,
        "run": run_index,
        "messages_per_second": round(rate, 1),
        "per_connection_min": round(min(per_connection), 1),
        "per_connection_max": round(max(per_connection), 1),
        "seconds": round(elapsed, 3),
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
        "connections_closed_during_run": len(closed_early),
        "server_command": " ".join(shlex.quote(part) for part in server.command),
        "server_scheduling": scheduling,
        "competing_processes": competing,
    }
    print(
        f"  run {run_index} {name:10s} {rate:9.0f} msg/s   client CPU {client_share:5.0%}"
        f"{' CLIENT-BOUND' if result['client_bound'] else ''}   server CPU {server_share:5.0%}"
        f" ({result['server_cpu_us_per_message']} us/msg)"
        f"   load {load_before[0]:.2f}->{load_after[0]:.2f}"
        f"{f'   WRONG ECHOES {wrong}' if wrong else ''}"
        f"{f'   {len(closed_early)} CLOSED' if closed_early else ''}"
        f"{f'   {len(competing)} competing processes' if competing else ''}"
        f"{f'   NEAR THE FLOOD LIMIT ({max(per_connection):.0f} of {RATE_LIMIT:.0f} msg/s on one socket)' if result['near_flood_limit'] else ''}",
        flush=True,
    )
    return result


async def main(args):
    state = machine_state()
    print(f"echo throughput: {args.connections} connections, {args.size}-byte text, "
          f"pipeline {args.pipeline}, {args.duration:g} s per run after {args.warmup:g} s warm-up, "
          f"{args.rounds} rounds; server on CPU {args.server_cpus}, client on CPU {args.client_cpu}")
    print(f"load average at start: {state['load_average_at_start']} (other work may share this machine); "
          f"benchmarked processes scheduled with BENCH_SCHED={state['bench_sched']} "
          f"(client: {state['client_scheduling']})")
    if state["competing_processes_at_start"]:
        print("WARNING: other benchmark or real-time processes are running; they compete for the same cores "
              "and these figures may be meaningless:")
        for line in state["competing_processes_at_start"]:
            print(f"    {line}")
    names = args.servers
    runs = []
    for round_index in range(args.rounds):
        # Alternate the order so neither server always runs in the same slot.
        order = names if round_index % 2 == 0 else list(reversed(names))
        for name in order:
            runs.append(await run_once(name, args, round_index))

    summary = {}
    for name in names:
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
    if "ours" in summary:
        ours = summary["ours"]["median_excluding_client_bound"]
        for name in names:
            if name != "ours":
                theirs = summary[name]["median_messages_per_second"]
                ratios[f"ours/{name}"] = round(ours / theirs, 2) if ours and theirs else None
                # The same comparison in server CPU per message (theirs/ours).
                cost_ours = summary["ours"]["median_server_cpu_us_per_message"]
                cost_theirs = summary[name]["median_server_cpu_us_per_message"]
                ratios[f"cpu_per_message_{name}/ours"] = (
                    round(cost_theirs / cost_ours, 2) if cost_ours and cost_theirs else None
                )

    print()
    print("median msg/s (client CPU share: max over runs):")
    for name in names:
        item = summary[name]
        flag = " (some runs CLIENT-BOUND, excluded for ours)" if item["client_bound_runs"] else ""
        print(f"  {name:10s} {item['median_messages_per_second']:9.0f} msg/s   client CPU <= "
              f"{item['max_client_cpu_share']:.0%}   server CPU ~{item['median_server_cpu_share']:.0%}"
              f", {item['median_server_cpu_us_per_message']} us/msg{flag}")
    for key, value in ratios.items():
        verdict = ""
        if key == "ours/stock" and value is not None:
            verdict = "  target >= 2.0x: " + ("MET" if value >= TARGET_RATIO else "MISSED")
        print(f"  ratio {key}: {value}x{verdict}")
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
            "client": "bench/wsclient.py (asyncio Protocol on uvloop, pre-built masked frames)",
            "unit": "echoed messages received by the client per second",
            "client_bound_threshold": CLIENT_BOUND_SHARE,
        },
        "summary": summary,
        "ratios": ratios,
        "target": {"ours/stock": TARGET_RATIO},
        "runs": runs,
    })
    print(f"written {os.path.relpath(path)}")


def parse_args(argv=None, output="echo_throughput", servers="ours,stock"):
    """This benchmark's arguments; bench.tracing_overhead reuses them with
    its own output name and servers."""
    parser = argument_parser(__doc__, output, duration=10.0, rounds=3)
    parser.add_argument("--servers", default=servers,
                        type=lambda text: [name for name in text.split(",") if name],
                        help="comma-separated, from: " + ", ".join(SERVERS))
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--size", type=int, default=64, help="message size in bytes")
    parser.add_argument("--pipeline", type=int, default=1, help="messages in flight per connection (1 = ping-pong)")
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args(argv)
    unknown = [name for name in args.servers if name not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s): {', '.join(unknown)}")
    return args


if __name__ == "__main__":
    # Short runs that want a core each: SCHED_FIFO where permitted (bench/common.py).
    run(main, parse_args(), scheduling="fifo")
