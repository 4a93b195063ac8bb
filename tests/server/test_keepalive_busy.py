"""Keepalive pings on a real server: a client that answers late, but
answers, keeps its socket; one that never answers loses it
(realtime/server/keepalive.py)."""

import select
import time

from realtime.server.frames import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, client_frame, parse_header
from tests.ops.scrape import value, wait_for
from tests.support.ports import free_port
from tests.support.raw_ws import FrameReader, open_socket

PING_INTERVAL = 1
PING_TIMEOUT = 5
# Longer than the interval plus the checker's 2 s period, so stock Daphne
# has sent the next ping before this pong arrives; shorter than the timeout
# less a second (autobahn's timers fire in whole-second buckets).
PONG_DELAY = 2.5


def run_client(sock, seconds, answer_after):
    """Read the socket for `seconds`, answering each ping with its pong
    `answer_after` seconds late (None: never). Returns (pings received, how
    the connection ended: None while open, "closed" or "close frame")."""
    buffer = b""
    pings = 0
    due = []  # (when, pong frame)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.05)
        now = time.monotonic()
        while due and due[0][0] <= now:
            sock.sendall(due.pop(0)[1])
        if not readable:
            continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return pings, "closed"
        if not chunk:
            return pings, "closed"
        buffer += chunk
        while (header := parse_header(buffer)) is not None:
            _, _, opcode, _, length, size = header
            if len(buffer) < size + length:
                break
            payload, buffer = buffer[size : size + length], buffer[size + length :]
            if opcode == OP_CLOSE:
                return pings, "close frame"
            if opcode == OP_PING:
                pings += 1
                if answer_after is not None:
                    due.append((now + answer_after, client_frame(OP_PONG, payload)))
    return pings, None


def test_a_client_that_answers_pings_late_keeps_its_socket(daphne):
    """Tried: --ping-interval 1 --ping-timeout 5; the client answers every
    ping, each 2.5 s late, and sends nothing else, for 14 s. With stock
    Daphne the next ping went out before that pong came, the pong to the
    older ping did not count, and the older ping's timer dropped the TCP
    connection 5 s after it. Here the socket stays open and keeps being pinged."""
    server = daphne(extra_args=("--ping-interval", str(PING_INTERVAL), "--ping-timeout", str(PING_TIMEOUT)))
    sock = open_socket(server.port, "/ws/echo", timeout=5)
    try:
        pings, ended = run_client(sock, 14.0, PONG_DELAY)
    finally:
        sock.close()
    assert ended is None, f"the server ended a socket whose client answered every ping ({pings} pings): {ended}"
    assert pings >= 3, f"only {pings} keepalive pings in 14 s with --ping-interval {PING_INTERVAL}"


def test_a_client_that_never_answers_is_dropped(daphne):
    """Tried: the same settings; the client reads but never answers a ping
    and sends nothing. The server drops it within interval + timeout + the
    checker's period and slack, and its metrics say why: one keepalive drop
    whose ping the client's TCP acknowledged (the client read it), one close
    without a close frame (1006)."""
    metrics_port = free_port()
    server = daphne(
        extra_args=("--ping-interval", str(PING_INTERVAL), "--ping-timeout", str(PING_TIMEOUT)),
        REALTIME_METRICS_PORT=metrics_port,
    )
    sock = open_socket(server.port, "/ws/echo", timeout=5)
    started = time.monotonic()
    try:
        pings, ended = run_client(sock, 20.0, None)
    finally:
        sock.close()
    assert ended == "closed", f"a client that never answered stayed connected for 20 s ({pings} pings)"
    assert pings == 1, f"{pings} pings were sent before the first was answered; one at a time expected"
    assert time.monotonic() - started < 15, "the silent client was dropped, but late"
    # The close is counted once the server has seen its TCP connection go,
    # a moment after the client saw it.
    samples = wait_for(
        metrics_port,
        lambda s: value(s, "realtime_websocket_closes_total", route="/ws/echo", code="1006", initiator="none") == 1,
    )
    drops = "realtime_websocket_keepalive_drops_total"
    assert value(samples, drops, route="/ws/echo", ping="acknowledged") == 1
    assert value(samples, drops, route="/ws/echo", ping="unacknowledged") == 0
    assert value(samples, "realtime_websocket_closes_total", route="/ws/echo", code="1006", initiator="none") == 1


def test_a_client_that_stopped_reading_is_dropped_with_its_ping_unacknowledged(daphne):
    """Tried: the same settings; the client shrinks its receive buffer,
    sends one 256 KiB message to /ws/echo and then neither reads nor sends.
    The echo fills the client's TCP window, so the ping behind it cannot
    reach the client. The server drops the socket after the timeout, and its
    metrics say the ping was never acknowledged (a client that stopped
    reading or vanished, not one that read the ping and did not answer)."""
    metrics_port = free_port()
    server = daphne(
        extra_args=("--ping-interval", str(PING_INTERVAL), "--ping-timeout", str(PING_TIMEOUT)),
        REALTIME_METRICS_PORT=metrics_port,
    )
    sock = open_socket(server.port, "/ws/echo", receive_buffer=4096, timeout=5)
    drops = "realtime_websocket_keepalive_drops_total"
    try:
        sock.sendall(client_frame(OP_TEXT, "x" * (256 * 1024)))
        samples = wait_for(metrics_port, lambda s: value(s, drops, route="/ws/echo", ping="unacknowledged") == 1, 20)
    finally:
        sock.close()
    assert value(samples, drops, route="/ws/echo", ping="unacknowledged") == 1, "no keepalive drop within 20 s"
    assert value(samples, drops, route="/ws/echo", ping="acknowledged") == 0


def test_pongs_answered_at_once_keep_the_pings_coming_and_lose_no_message(daphne):
    """Tried: --ping-interval 1 --ping-timeout 30; the client answers each
    ping at once with its pong, every other one with a text message behind
    it in the same write (one TCP segment: the pong takes the server's input
    fast path, the message follows it). Only a pong the server matched to
    its ping lets it send the next ping (one outstanding at a time), so
    pings keep coming every interval, and every message comes back echoed,
    in order."""
    server = daphne(extra_args=("--ping-interval", str(PING_INTERVAL), "--ping-timeout", "30"))
    sock = open_socket(server.port, "/ws/echo", timeout=5)
    reader, pings, echoes = FrameReader(sock), 0, []
    deadline = time.monotonic() + 9.0
    try:
        while time.monotonic() < deadline:
            if not select.select([sock], [], [], 0.05)[0]:
                continue
            try:
                reader.fill()
            except ConnectionError:
                raise AssertionError(f"the server closed a socket that answered every ping ({pings} pings)") from None
            for opcode, payload in reader.complete_frames():
                if opcode == OP_PING:
                    pings += 1
                    answer = client_frame(OP_PONG, payload)
                    if pings % 2 == 0:  # every other pong has a message behind it
                        answer += client_frame(OP_TEXT, f"after pong {pings}")
                    sock.sendall(answer)
                elif opcode == OP_TEXT:
                    echoes.append(payload.decode())
    finally:
        sock.close()
    assert pings >= 3, f"only {pings} pings in 9 s at --ping-interval 1: the pongs were not matched to the pings"
    expected = [f"after pong {n}" for n in range(2, pings + 1, 2)]
    assert echoes in (expected, expected[:-1]), f"echoes {echoes} after {pings} pings"
