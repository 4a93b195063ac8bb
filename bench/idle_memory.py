"""Idle memory per connection: the server's resident memory (RSS) growth per
open, idle WebSocket, at 1,000 and 10,000 sockets, for

- ours: `python -m realtime.serve` (this project, its defaults: tracing on,
  in-memory layer) on /ws/echo;
- stock: a stock Channels echo consumer on stock Daphne (bench/stock_echo.py);
- websockets: a plain `websockets` echo server (bench/raw_websockets_echo.py).

Each server starts fresh for each size, pinned to CPU 0. One warm-up
connection exchanges a message (imports and caches done), then the baseline
RSS is read; the N connections are opened (bench/wsclient.py, the load client
pinned to CPU 1), left idle for --settle seconds, and the RSS is read three
times a second apart (median). Per connection = (RSS - baseline) / N.
Target (issue 6): ours <= 20 KiB per connection at 10,000.

    .venv/bin/python -m bench.idle_memory [--sizes 1000,10000] [--servers ours,stock,websockets]
"""

import asyncio
import os
import shlex
import time

from bench.common import (
    CLIENT_BOUND_SHARE,
    ClientCpu,
    Server,
    load_average,
    machine_state,
    median,
    raise_open_file_limit,
    server_environment,
    write_result,
)
from bench.runner import argument_parser, command_line, run
from bench.wsclient import OP_TEXT, WebSocketClientProtocol, client_frame, close_all, connect, connect_many

TARGET_KIB_AT_10000 = 20.0
SERVERS = {
    "ours": ["{python}", "-m", "realtime.serve", "-v", "0", "-b", "127.0.0.1", "-p", "{port}",
             "config.asgi:application"],
    "stock": ["{python}", "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", "{port}", "bench.stock_echo:application"],
    "websockets": ["{python}", "-m", "bench.raw_websockets_echo", "{port}"],
}


class Idle(WebSocketClientProtocol):
    def __init__(self, host, port, path):
        super().__init__(host, port, path)
        self.echoed = asyncio.get_running_loop().create_future()

    def on_message(self, opcode, payload):
        if not self.echoed.done():
            self.echoed.set_result(payload)


def settled_rss(server, samples=3):
    values = []
    for _ in range(samples):
        values.append(server.rss_bytes())
        time.sleep(1.0)
    return median(values)


async def measure(kind, size, args, env):
    server = Server(f"idle-{kind}", SERVERS[kind], env, cpus=args.server_cpus)
    clients = []
    try:
        warm = await connect(lambda: Idle("127.0.0.1", server.port, "/ws/echo"), "127.0.0.1", server.port)
        warm.send_raw(client_frame(OP_TEXT, "warm-up"))
        await asyncio.wait_for(warm.echoed, 10)
        await asyncio.sleep(1.0)
        baseline = await asyncio.to_thread(settled_rss, server)
        cpu = ClientCpu()
        started = time.monotonic()
        clients = await connect_many(lambda index, port: Idle("127.0.0.1", port, "/ws/echo"), size, "127.0.0.1",
                                     [server.port], concurrency=args.concurrency, timeout=60.0)
        connect_seconds = time.monotonic() - started
        client_share = cpu.share()
        await asyncio.sleep(args.settle)
        loaded = await asyncio.to_thread(settled_rss, server)
        open_count = sum(1 for client in clients if client.is_open)
        command = " ".join(shlex.quote(part) for part in server.command)
        await close_all(clients + [warm])
    finally:
        server.stop()
    per_connection = (loaded - baseline) / size
    return {
        "server": kind,
        "sockets": size,
        "open_after_settle": open_count,
        "baseline_rss_mib": round(baseline / 2**20, 1),
        "loaded_rss_mib": round(loaded / 2**20, 1),
        "kib_per_connection": round(per_connection / 1024, 2),
        "connect_seconds": round(connect_seconds, 2),
        "client_cpu_share_while_connecting": round(client_share, 3),
        # Idle memory does not depend on client speed, but say so anyway.
        "client_bound": client_share > CLIENT_BOUND_SHARE,
        "server_command": command,
    }


async def main(args):
    state = machine_state()
    state["open_file_limit"] = raise_open_file_limit(max(args.sizes) + 1024)
    env = server_environment()
    print(f"idle memory per connection: servers {args.servers} on CPU {args.server_cpus}, "
          f"client on CPU {args.client_cpu}, sizes {args.sizes}; load average {load_average()}")
    results = []
    for size in args.sizes:
        for kind in args.servers:
            result = await measure(kind, size, args, env)
            flag = " CLIENT-BOUND" if result["client_bound"] else ""
            print(f"  {kind:>10} {size:>6} sockets: {result['kib_per_connection']:6.1f} KiB/connection "
                  f"(RSS {result['baseline_rss_mib']} -> {result['loaded_rss_mib']} MiB, "
                  f"{result['open_after_settle']} open; client CPU while connecting "
                  f"{result['client_cpu_share_while_connecting']:.0%}{flag})", flush=True)
            results.append(result)
    ours_10k = [r for r in results if r["server"] == "ours" and r["sockets"] == 10000]
    met = bool(ours_10k) and ours_10k[0]["kib_per_connection"] <= TARGET_KIB_AT_10000
    if ours_10k:
        print(f"  target: ours <= {TARGET_KIB_AT_10000:g} KiB/connection at 10,000: {'MET' if met else 'MISSED'}")
    command = command_line()
    path = write_result(args.output, {
        "benchmark": "idle_memory",
        "command": command,
        "machine": state,
        "load_average_at_end": load_average(),
        "parameters": {"settle_seconds": args.settle, "server_cpus": args.server_cpus,
                       "client_cpu": args.client_cpu, "path": "/ws/echo",
                       "measure": "(median RSS of 3 reads after settle - RSS before connecting) / sockets"},
        "target": {"ours_kib_per_connection_at_10000": TARGET_KIB_AT_10000, "met": met},
        "results": results,
    })
    print(f"written {os.path.relpath(path)}")


def parse_args(argv=None):
    parser = argument_parser(__doc__, "idle_memory")
    parser.add_argument("--sizes", default=[1000, 10000], type=lambda t: [int(n) for n in t.split(",") if n])
    parser.add_argument("--servers", default=["ours", "stock", "websockets"], type=lambda t: t.split(","))
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=200)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
