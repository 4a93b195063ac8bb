"""A closed connection is freed by reference counting, not left for the
garbage collector.

The server runs full collections only every REALTIME_GC_FULL_SECONDS
(300 s), so whatever a closed connection leaves in reference cycles stays in
memory until then: a reconnect storm of 10,000 clients left tens of MB, and
a churn soak grew. Tried: the real server (tests/support/gc_probe_server.py:
`python -m realtime.server` with automatic collection off) takes 2,000
connections, opened and closed in every way a client does it: /ws/echo
(a message and its echo), /ws/time (one tick), /ws/chat/<room>/ (joined as
a guest), /ws/mouse (an event and its echo), a client that drops TCP without
a close frame, and one the server closes with 1009 (a message too big). Once
the server has let go of them all, one full collection must find almost
nothing: at most FOUND_BOUND objects, and none of a connection's own kinds
(protocol, transport, queues, Deferreds, consumer, event log). Once with the
in-memory channel layer, once with Redis. Before the
cycles were broken it found ~37 objects per connection (74,000 here).

What it may still find: Django's SQL compiler makes a 3-object cycle (a
nested function that calls itself) for every select_related query, which a
chat join runs; that is Django's, once per query, not the connection's.
"""

import asyncio
import concurrent.futures
import json
import signal
import time

import websockets

from tests.support.paths import PYTHON
from tests.support.ports import free_port
from tests.support.servers import ServerProcess, server_environment

CONNECTIONS = 2000
AT_ONCE = 100
KINDS = ("echo", "time", "chat", "mouse", "dropped", "too_big")
# 2,000 connections, a third of which are chat joins (Django's select_related
# cycles above: ~4.5 objects a join), plus a few one-off objects.
FOUND_BOUND = 2000
CONNECTION_TYPES = (
    "Protocol",
    "tcp.Server",
    "Deferred",
    "InboundQueue",
    "SendQueue",
    "TrafficStats",
    "Consumer",
    "EventLog",
    "Trace",
    "ConnectionRequest",
    "Task",
    "Future",
)


async def use_and_close(base, kind, number):
    if kind == "echo":
        async with websockets.connect(f"{base}/ws/echo") as ws:
            await ws.send(f"echo {number}")
            assert await ws.recv() == f"echo {number}"
    elif kind == "time":
        async with websockets.connect(f"{base}/ws/time") as ws:
            assert "seq" in json.loads(await asyncio.wait_for(ws.recv(), 5))
    elif kind == "chat":
        async with websockets.connect(f"{base}/ws/chat/memory/") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "joined"
    elif kind == "mouse":
        async with websockets.connect(f"{base}/ws/mouse") as ws:
            await ws.send(json.dumps({"x": number, "y": 1}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["x"] == number
    elif kind == "dropped":
        ws = await websockets.connect(f"{base}/ws/echo")
        await ws.send("then gone")
        await ws.recv()
        ws.transport.abort()  # TCP reset, no close frame
    elif kind == "too_big":
        async with websockets.connect(f"{base}/ws/mouse") as ws:
            await ws.send("x" * (64 * 1024 + 1))
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd.code == 1009
            else:
                raise AssertionError("an oversized message did not close the socket")


async def open_and_close(base, count):
    for start in range(0, count, AT_ONCE):
        await asyncio.gather(*(use_and_close(base, KINDS[n % len(KINDS)], n) for n in range(start, start + AT_ONCE)))


class ProbedServer:
    """The server with collection off, and its reports (gc_probe_server)."""

    def __init__(self, database_url, tmp_path, **env):
        self.report = tmp_path / "gc-report.json"
        self.port = free_port()
        env = server_environment(database_url, REALTIME_GC_FULL_SECONDS="0", **env)
        self.server = ServerProcess(
            [
                PYTHON,
                "-m",
                "tests.support.gc_probe_server",
                str(self.report),
                "-v",
                "0",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "config.asgi:application",
            ],
            env,
            tmp_path / "server.log",
            self.port,
        )
        self.round = 0

    def ask(self, signum, timeout=30):
        self.server.process.send_signal(signum)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                report = json.loads(self.report.read_text())
            except (FileNotFoundError, ValueError):
                report = {"round": 0}
            if report["round"] > self.round:
                self.round = report["round"]
                return report
            time.sleep(0.05)
        raise AssertionError(f"no report from the server within {timeout} s:\n{self.server.output()}")

    def wait_until_all_closed(self, timeout=60):
        """Until the server tracks no connection (Daphne reaps a closed one
        at its next check, once a second)."""
        deadline = time.monotonic() + timeout
        while (left := self.ask(signal.SIGUSR2)["connections"]) > 0:
            assert time.monotonic() < deadline, f"the server still tracks {left} connections after {timeout} s"
            time.sleep(0.5)

    def collect(self):
        return self.ask(signal.SIGUSR1)


def test_closed_connections_leave_the_collector_almost_nothing(server_database, tmp_path):
    check_closed_connections(ProbedServer(server_database, tmp_path))


def test_closed_connections_leave_the_collector_almost_nothing_with_redis(
    server_database, tmp_path, redis_url, channel_prefix
):
    """The same with the Redis channel layer: the hub's group registrations
    and the chat's presence go through Redis."""
    check_closed_connections(
        ProbedServer(server_database, tmp_path, REDIS_URL=redis_url, CHANNEL_LAYER_PREFIX=channel_prefix)
    )


def run_clients(coroutine):
    # A page test earlier in the session may leave Playwright's event loop
    # running in this thread, where asyncio.run() refuses to start; the
    # clients get a thread of their own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def check_closed_connections(probed):
    base = f"ws://127.0.0.1:{probed.port}"
    try:
        # Warm-up: caches, lazily made objects and one-off start-up garbage
        # are collected here, not counted below.
        run_clients(open_and_close(base, 2 * AT_ONCE))
        probed.wait_until_all_closed()
        probed.collect()

        run_clients(open_and_close(base, CONNECTIONS))
        probed.wait_until_all_closed()
        report = probed.collect()
    finally:
        probed.server.stop()
    found, types = report["found"], report["types"]
    per_connection = [name for name in types if any(kind in name for kind in CONNECTION_TYPES)]
    assert not per_connection, f"closed connections left {found} objects in cycles: {types}"
    assert found <= FOUND_BOUND, f"{found} objects in cycles after {CONNECTIONS} closed connections: {types}"
    print(f"{CONNECTIONS} connections closed: a full collection found {found} objects: {types}")
