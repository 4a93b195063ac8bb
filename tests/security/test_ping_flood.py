"""A ping flood: a client that sends pings as fast as it can on /ws/echo and
never reads the pongs must not grow the server.

What is tried: a raw socket (receive buffer shrunk to 4 KiB, so its TCP
window closes at once) sends 125-byte pings in batches, non-blocking, and
never recv()s, offering 120 MiB. Every ping asks the server for a pong; a
server that kept reading would hold every unsent pong in memory (an audit
saw 141 MiB of pings in 11 s take its RSS up 178 MiB, the socket still
open). Here, before each read, the server checks what waits for the client
against the send buffer limit (REALTIME_SEND_BUFFER_BYTES, 256 KiB), as for
any slow client: past it, it stops reading, queues a 1008 close and cuts the
connection when no close reply comes within a second. So the attacker is cut
off after a few MiB (most of them in the kernel's socket buffers), the
server's RSS barely moves, and another client's echo still answers."""

import select
import socket
import threading
import time

import psutil

from realtime.server.frames import OP_PING, OP_TEXT, client_frame
from tests.support.raw_ws import FrameReader, open_socket

OFFERED = 120 * 1024 * 1024
STALL_SECONDS = 3.0  # no byte taken for this long: the server stopped reading us


def flood_pings(port, result):
    sock = open_socket(port, "/ws/echo", receive_buffer=4096, timeout=10.0)
    result["client_port"] = sock.getsockname()[1]
    batch = memoryview(b"".join(client_frame(OP_PING, b"p" * 125, key=bytes(4)) for _ in range(1000)))
    sock.setblocking(False)
    sent = offset = 0
    try:
        while sent < OFFERED:
            if not select.select([], [sock], [], STALL_SECONDS)[1]:
                result["stalled"] = True
                break
            try:
                count = sock.send(batch[offset:])
            except BlockingIOError:
                continue
            offset = (offset + count) % len(batch)
            sent += count
    except (ConnectionResetError, BrokenPipeError) as error:
        result["cut_off"] = repr(error)
    result["sent"] = sent
    result["socket"] = sock


def sample_peak_rss(process, stop, peak):
    while not stop.is_set():
        peak["rss"] = max(peak["rss"], process.memory_info().rss)
        time.sleep(0.02)


def echoed(sock, text):
    """Send `text` on a raw echo socket; the next data frame (keepalive
    pings, which the server may send at any time, skipped)."""
    sock.sendall(client_frame(OP_TEXT, text))
    reader = FrameReader(sock)
    while True:
        opcode, payload = reader.frame()
        if opcode != OP_PING:
            return opcode, payload


def server_holds(process, client_port):
    return [c for c in process.net_connections("tcp") if c.raddr and c.raddr.port == client_port]


def test_a_ping_flood_that_never_reads_is_cut_off_and_the_server_does_not_grow(daphne):
    server = daphne()
    process = psutil.Process(server.process.pid)
    bystander = open_socket(server.port, "/ws/echo")
    assert echoed(bystander, b"warm up") == (OP_TEXT, b"warm up")

    rss_before = process.memory_info().rss
    peak = {"rss": rss_before}
    stop = threading.Event()
    sampler = threading.Thread(target=sample_peak_rss, args=(process, stop, peak), daemon=True)
    sampler.start()
    result = {}
    started = time.monotonic()
    flood_pings(server.port, result)
    flood_seconds = time.monotonic() - started

    # The server still serves everyone else while the flooder waits.
    assert echoed(bystander, b"still there?") == (OP_TEXT, b"still there?")

    # The server lets go of the flooder's connection (the close handshake
    # gives it a second to answer the 1008, which it never reads).
    deadline = time.monotonic() + 15
    while server_holds(process, result["client_port"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    held = server_holds(process, result["client_port"])
    stop.set()
    sampler.join()
    result["socket"].close()
    bystander.close()

    growth_mib = (peak["rss"] - rss_before) / 2**20
    print(
        f"\nping flood: {result['sent'] / 2**20:.1f} MiB taken of {OFFERED / 2**20:.0f} MiB offered in "
        f"{flood_seconds:.1f} s, stalled={result.get('stalled')}, cut off={result.get('cut_off')}, "
        f"peak RSS growth {growth_mib:.1f} MiB"
    )
    assert result.get("cut_off"), (
        f"the flooder was not cut off ({result['sent'] / 2**20:.1f} MiB taken, stalled={result.get('stalled')})"
    )
    assert result["sent"] < 32 * 1024 * 1024, f"the server took {result['sent'] / 2**20:.1f} MiB of pings"
    assert growth_mib < 20, f"server RSS grew {growth_mib:.1f} MiB under a ping flood"
    assert not held, f"the server still holds the flooder's connection: {held}"


def test_a_ping_flood_from_a_client_that_reads_gets_every_pong(daphne):
    """The bound does not cost a well-behaved client anything: one that reads
    its pongs gets one per ping, in order."""
    server = daphne()
    sock = open_socket(server.port, "/ws/echo", timeout=20.0)
    reader = FrameReader(sock)
    pings = 5000

    def send():
        for i in range(pings):
            sock.sendall(client_frame(OP_PING, str(i).encode()))

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    pongs = []
    while len(pongs) < pings:
        frame = reader.frame()
        if frame[0] != OP_PING:  # the server's own keepalive ping may come in between
            pongs.append(frame)
    sender.join()
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    assert pongs == [(0xA, str(i).encode()) for i in range(pings)]
