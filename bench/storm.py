"""Connection storm: --clients (default 10,000) WebSocket clients open at the
same moment on one Daphne process (`python -m realtime.server`, CPU 0), each
doing the opening handshake on /ws/time and waiting for its first tick.

Every client ends one of these ways: accepted (101, then a tick), refused
cleanly (connection refused, an HTTP error such as Daphne's 403 for a
handshake it timed out, or the connection closed before the upgrade), hung
(no answer within --timeout seconds), or accepted but no tick within 10 s
after the 101. Target: none hung (and every accepted socket ticks).
It prints the counts, the time until the last client was answered, the
handshake time percentiles and this client's CPU share (client-bound over
80% of its core). The open-file limit is raised to the hard limit first;
the server raises its own (realtime/serve.py).

    .venv/bin/python -m bench.storm [--clients 10000]

(tests/test_connection_storm.py runs the same with 3,000 clients in CI.)
"""

import asyncio
import base64
import os
import shlex
import time

from bench.common import (
    CLIENT_BOUND_SHARE,
    ClientCpu,
    load_average,
    machine_state,
    percentile,
    raise_open_file_limit,
    server_environment,
    write_result,
)
from bench.peers.registry import SERVERS
from bench.processes import Server
from bench.runner import argument_parser, result_head, run

TICK_WAIT = 10.0  # after the 101, the first tick must come within this


def handshake(port):
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws/time HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def one_client(port, started, writers):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writers.append(writer)
    writer.write(handshake(port))
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        return "refused", time.monotonic() - started
    answered = time.monotonic() - started
    try:
        frame = await asyncio.wait_for(reader.readexactly(2), TICK_WAIT)
        await reader.readexactly(frame[1] & 0x7F)
    except TimeoutError:
        return "accepted, no tick", answered
    return "accepted", answered


async def run_client(port, timeout, started, writers):
    try:
        return await asyncio.wait_for(one_client(port, started, writers), timeout)
    except TimeoutError:
        return "hung", None
    except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError):
        return "refused", time.monotonic() - started


async def main(args):
    state = machine_state()
    state["open_file_limit"] = raise_open_file_limit(args.clients + 1024)
    server = Server("storm", SERVERS["ours"].argv(), server_environment(), cpus=args.server_cpus)
    writers = []
    try:
        print(
            f"storm: {args.clients} clients at once on port {server.port} (pid {server.process.pid}), "
            f"load average {load_average()}",
            flush=True,
        )
        cpu = ClientCpu()
        server.start_window()
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(run_client(server.port, args.timeout, started, writers) for _ in range(args.clients))
        )
        elapsed = time.monotonic() - started
        client_share = cpu.share()
        server_share = server.window_share()
        alive = server.process.poll() is None
        command = " ".join(shlex.quote(part) for part in server.command)
    finally:
        for writer in writers:
            writer.transport.abort()
        server.stop()
    kinds = ("accepted", "refused", "hung", "accepted, no tick")
    counts = {kind: sum(1 for k, _ in outcomes if k == kind) for kind in kinds}
    answered = [t for k, t in outcomes if k.startswith("accepted")]
    result = {
        **result_head("storm", args, state),
        "server_command": command,
        "clients": args.clients,
        "counts": counts,
        "seconds_until_all_answered": round(elapsed, 2),
        "handshake_seconds_p50": round(percentile(answered, 0.5), 2) if answered else None,
        "handshake_seconds_p99": round(percentile(answered, 0.99), 2) if answered else None,
        "handshake_seconds_max": round(max(answered), 2) if answered else None,
        "client_cpu_share": round(client_share, 3),
        "client_bound": client_share > CLIENT_BOUND_SHARE,
        "server_cpu_share": round(server_share, 3),
        "server_survived": alive,
        "none_hung": counts["hung"] == 0 and counts["accepted, no tick"] == 0 and alive,
    }
    flag = " CLIENT-BOUND" if result["client_bound"] else ""
    print(
        f"  {counts} in {elapsed:.1f} s; handshake p50 {result['handshake_seconds_p50']} s, "
        f"p99 {result['handshake_seconds_p99']} s, max {result['handshake_seconds_max']} s; "
        f"client CPU {client_share:.0%}{flag}, server CPU {server_share:.0%}"
    )
    print(f"  target: none hung: {'MET' if result['none_hung'] else 'MISSED'}")
    print(f"written {os.path.relpath(write_result(args.output, result))}")


def parse_args(argv=None):
    parser = argument_parser(__doc__, "storm")
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a client counts as hung")
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
