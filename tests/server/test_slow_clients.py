"""Slow clients (gorilla's bounded send buffer): a client that stops reading
must not grow the server's memory without bound nor hold up anyone else.

What is tried: a real Daphne process (one process, in-memory layer) serves
20 well-behaved /ws/time clients while three raw sockets on /ws/echo send
16 KiB messages as fast as they can and never recv() a byte (their receive
buffer shrunk to a few KiB, so their TCP window closes at once). Every echo
then piles up in the server. The stalled readers are on /ws/echo because a
tick is ~100 bytes a second: a stalled /ws/time reader would take hours to
fill even the kernel's socket buffers, let alone the server's.

Stock Daphne (REALTIME_SEND_BUFFER_BYTES=0) keeps every unsent echo in
Twisted's write buffer: each stalled client could push its whole 48 MiB
budget into the server's memory. Here the socket is closed once
REALTIME_SEND_BUFFER_BYTES (256 KiB by default) are waiting: the server
queues a 1008 close frame behind the backlog and stops reading. A stalled
client that wakes up then reads the echoes that were waiting and, last, the
1008; one that does not wake up within the close handshake's second is cut
off. Each stalled client here notices that the server stopped reading (its
sends block for STALL_SECONDS), then reads, so the close code is checked
where the client sees it, on the wire."""

import asyncio
import json
import select
import sqlite3
import threading
import time
from datetime import UTC, datetime

import psutil
import websockets

from realtime.server.frames import OP_BINARY, OP_CLOSE, client_frame, close_code, parse_header
from realtime.server.send_buffer import SLOW_CLIENT_FAMILY
from tests.support.raw_ws import open_socket

STALLED_CLIENTS = 3
GOOD_CLIENTS = 20
MESSAGE = b"x" * (16 * 1024)
BUDGET_PER_STALLED_CLIENT = 48 * 1024 * 1024  # what each would push into a server without the bound
# Sends blocked this long: the server has stopped reading us. Well inside the
# 1 s the server then waits for our close reply before it aborts the TCP
# connection (and with it the close frame still queued for us).
STALL_SECONDS = 0.25


def flood_without_reading(port, result):
    """Send echo requests without reading the echoes, until the server stops
    reading us; then read what it sent. Stop when its close frame arrives
    (result["close_code"]), when it cuts us off without one, or when the
    budget is spent (it never stopped us)."""
    sock = open_socket(port, "/ws/echo", receive_buffer=4096, timeout=20.0)
    result["client_port"] = sock.getsockname()[1]
    # A zero key: cheap, and still a masked frame.
    frame = memoryview(client_frame(OP_BINARY, MESSAGE, key=bytes(4)))
    offset = sent = 0  # a frame may go out in pieces; the next send goes on from there
    pending = bytearray()  # server bytes read but not yet parsed
    try:
        while sent < BUDGET_PER_STALLED_CLIENT and "close_code" not in result:
            sock.setblocking(False)
            while sent < BUDGET_PER_STALLED_CLIENT:
                if not select.select([], [sock], [], STALL_SECONDS)[1]:
                    break  # the server is not reading us
                try:
                    count = sock.send(frame[offset:])
                except BlockingIOError:
                    continue
                offset = (offset + count) % len(frame)
                sent += count
            sock.setblocking(True)
            # Read everything waiting for us. Without a close frame at its end
            # (the server only paused), go on flooding.
            code = read_until_close(sock, pending)
            if code is not None:
                result["close_code"] = code
        result["cut_off"] = "close frame" if "close_code" in result else None
    except (ConnectionResetError, BrokenPipeError) as error:
        result["cut_off"] = repr(error)  # cut off before we read the close frame
    finally:
        result["sent"] = sent
        sock.close()


def read_until_close(sock, pending, quiet=0.5):
    """Read server frames until a close frame, whose code is returned, or
    until nothing arrives for `quiet` seconds (None)."""
    sock.settimeout(quiet)
    while True:
        while (header := parse_header(pending)) is not None:
            _, _, opcode, _, length, size = header
            if len(pending) < size + length:
                break
            if opcode == OP_CLOSE:
                return close_code(pending[size : size + length])
            del pending[: size + length]
        try:
            data = sock.recv(1 << 20)
        except TimeoutError:
            return None
        if not data:
            raise ConnectionResetError("the server closed the TCP connection without a close frame")
        pending += data


def sample_peak_rss(process, stop, peak):
    while not stop.is_set():
        peak["rss"] = max(peak["rss"], process.memory_info().rss)
        time.sleep(0.02)


async def read_ticks(url, stop, ticks):
    async with websockets.connect(url) as ws:
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            received = time.time()
            tick = json.loads(text)
            sent = datetime.strptime(tick["iso"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
            ticks.append((tick["seq"], received - sent))


def wait_for_slow_client_traces(database_url, client_ports, timeout=5.0):
    """The slow-client traces of these clients (the session's servers share
    one database, so other tests' slow clients may be there too)."""
    path = database_url.removeprefix("sqlite:///")
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(path) as db:
            rows = db.execute(
                "SELECT is_error, events FROM realtime_tracerecord WHERE family = ?", (SLOW_CLIENT_FAMILY,)
            ).fetchall()
        mine = [row for row in rows if any(f"'127.0.0.1', {port}]" in row[1] for port in client_ports)]
        if len(mine) >= len(client_ports) or time.monotonic() > deadline:
            return mine
        time.sleep(0.2)


async def test_a_client_that_stops_reading_is_closed_and_the_others_keep_their_ticks(daphne, server_database):
    server = daphne()
    process = psutil.Process(server.process.pid)

    stop_ticks = asyncio.Event()
    ticks = [[] for _ in range(GOOD_CLIENTS)]
    readers = [
        asyncio.create_task(read_ticks(f"{server.ws_url}/ws/time", stop_ticks, ticks[i])) for i in range(GOOD_CLIENTS)
    ]
    deadline = time.monotonic() + 5
    while not all(ticks) and time.monotonic() < deadline:  # everyone is subscribed and ticking
        await asyncio.sleep(0.1)
    assert all(ticks), "the good clients did not start receiving ticks"

    rss_before = process.memory_info().rss
    peak = {"rss": rss_before}
    stop_sampling = threading.Event()
    sampler = threading.Thread(target=sample_peak_rss, args=(process, stop_sampling, peak), daemon=True)
    sampler.start()
    results = [{} for _ in range(STALLED_CLIENTS)]
    blast_started = time.time()
    await asyncio.gather(*(asyncio.to_thread(flood_without_reading, server.port, r) for r in results))
    blast_ended = time.time()
    # Let one more tick arrive after the stalled clients are gone, then stop.
    await asyncio.sleep(1.5)
    stop_sampling.set()
    stop_ticks.set()
    await asyncio.gather(*readers)
    sampler.join()

    growth_mib = (peak["rss"] - rss_before) / 2**20
    offered_mib = STALLED_CLIENTS * BUDGET_PER_STALLED_CLIENT / 2**20
    print(
        f"\nstalled readers: {[r['sent'] / 2**20 for r in results]} MiB sent before the cut-off, "
        f"peak RSS growth {growth_mib:.1f} MiB (they offered {offered_mib:.0f} MiB), "
        f"blast {blast_ended - blast_started:.1f} s"
    )

    # 1. Each stalled client is closed long before its budget, with 1008 on
    # the wire, behind the echoes that were waiting for it.
    for result in results:
        assert result.get("cut_off"), f"a client that never reads was not closed: {result}"
        assert result["sent"] < BUDGET_PER_STALLED_CLIENT
        assert result.get("close_code") == 1008, f"no 1008 close frame reached the client: {result}"
    # 2. ...and its backlog did not grow the server: the peak is a small fraction
    # of what the clients offered (kernel socket buffers are not in the RSS).
    assert growth_mib < 40, f"server RSS grew by {growth_mib:.1f} MiB while clients stalled"
    # 3. The server traces what it did (realtime.tracing writes finished traces to the
    # server's database within REALTIME_TRACE_FLUSH_SECONDS).
    traced = wait_for_slow_client_traces(server_database, [r["client_port"] for r in results])
    assert len(traced) == STALLED_CLIENTS, traced
    assert all(is_error and "closed with 1008" in events for is_error, events in traced), traced
    # 4. The server holds no connection to them any more.
    stalled_ports = {r["client_port"] for r in results}
    lingering = [c for c in process.net_connections("tcp") if c.raddr and c.raddr.port in stalled_ports]
    assert not lingering, f"server still holds the stalled clients' connections: {lingering}"

    # 5. Meanwhile every good client got every tick, on time.
    worst = 0.0
    for got in ticks:
        seqs = [seq for seq, _ in got]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"lost or repeated ticks: {seqs}"
        assert seqs[-1] >= int(blast_ended), "ticks stopped during the flood"
        worst = max(worst, max(latency for _, latency in got))
    print(f"worst tick latency for the good clients during the flood: {worst * 1000:.0f} ms")
    # A tick later than a second would have been overtaken by the next one.
    assert worst < 1.0, f"a tick reached a good client {worst:.2f}s late"
