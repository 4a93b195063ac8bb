"""A connection storm: thousands of WebSocket clients opening at the same
moment on one real Daphne process.

What is tried: STORM_CLIENTS connections to /ws/time are started together
(one asyncio task each, no pacing), each doing the opening handshake and
then waiting for its first tick. Each must end one of two clean ways:
accepted (101, then a tick within 3 s) or refused (connection refused, or
an HTTP error / close before the upgrade); none may hang (no answer within
STORM_TIMEOUT seconds). On this machine all are accepted.

The test raises its own file-descriptor limit to the hard limit (the server
process inherits it; `python -m realtime.server` raises its own too). The
full 10,000 is exercised by the benchmark (`make bench`, bench/storm.py);
this test uses 3,000 (STORM_CLIENTS overrides) to stay well under a minute
in CI.
"""

import asyncio
import os
import resource
import time

from tests.support.raw_ws import handshake_request

STORM_CLIENTS = int(os.environ.get("STORM_CLIENTS", "3000"))
STORM_TIMEOUT = 20.0


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    assert hard >= needed, f"this test needs {needed} file descriptors, the hard limit is {hard}"


async def one_client(port, outcome, writers):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        outcome.append("refused")
        return
    writers.append(writer)
    writer.write(handshake_request(port, "/ws/time"))
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        outcome.append("refused")
        return
    try:
        frame = await asyncio.wait_for(reader.readexactly(2), 3.0)
        await reader.readexactly(frame[1])
    except TimeoutError:
        outcome.append("accepted, no tick")
        return
    outcome.append("accepted")


async def run_client(port, results, writers):
    outcome = []
    try:
        await asyncio.wait_for(one_client(port, outcome, writers), STORM_TIMEOUT)
    except TimeoutError:
        outcome.append("hung")
    except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
        outcome.append("refused")  # closed before or during the upgrade: a clean no
    results.append(outcome[-1] if outcome else "hung")


async def test_thousands_of_clients_opening_at_once_are_all_answered(daphne):
    raise_fd_limit(STORM_CLIENTS + 1000)
    server = daphne()
    results, writers = [], []
    started = time.monotonic()
    await asyncio.gather(*(run_client(server.port, results, writers) for _ in range(STORM_CLIENTS)))
    elapsed = time.monotonic() - started
    counts = {kind: results.count(kind) for kind in ("accepted", "refused", "hung", "accepted, no tick")}
    print(f"\n{STORM_CLIENTS} clients at once: {counts} in {elapsed:.1f} s")
    try:
        assert counts["hung"] == 0, f"{counts['hung']} clients got no answer within {STORM_TIMEOUT}s: {counts}"
        assert counts["accepted, no tick"] == 0, f"accepted clients that got no tick: {counts}"
        assert counts["accepted"] + counts["refused"] == STORM_CLIENTS
        # With the fd limit raised and the listen backlog sized for it, the
        # server takes everyone on this machine.
        assert counts["accepted"] == STORM_CLIENTS, counts
        assert server.process.poll() is None, "the server died"
    finally:
        for writer in writers:
            writer.transport.abort()
