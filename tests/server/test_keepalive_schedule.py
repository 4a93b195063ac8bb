"""Keepalive pings of many sockets that connected together: sent at half
past a second (realtime/housekeeping.py), away from the whole-second time
push, on a real server."""

import math
import select
import time

from realtime.server.frames import parse_header
from tests.support.raw_ws import open_socket

OP_PING = 0x9
SOCKETS = 40
PING_INTERVAL = 4


def first_ping_times(sockets, deadline):
    """The wall-clock time each socket's first ping frame arrived (None: none
    did before `deadline`). The client never answers."""
    arrived = dict.fromkeys(sockets)
    buffers = dict.fromkeys(sockets, b"")
    waiting = set(sockets)
    while waiting and time.time() < deadline:
        readable, _, _ = select.select(list(waiting), [], [], 0.2)
        now = time.time()
        for sock in readable:
            chunk = sock.recv(65536)
            assert chunk, "the server closed a socket that was only waiting for a ping"
            buffers[sock] += chunk
            while (header := parse_header(buffers[sock])) is not None:
                _, _, opcode, _, length, size = header
                if len(buffers[sock]) < size + length:
                    break
                buffers[sock] = buffers[sock][size + length :]
                if opcode == OP_PING and arrived[sock] is None:
                    arrived[sock] = now
                    waiting.discard(sock)
    return [arrived[sock] for sock in sockets]


def test_pings_of_sockets_opened_together_are_sent_at_half_past(daphne):
    """Tried: 40 sockets opened back to back on /ws/echo with --ping-interval 4,
    none of them ever sending anything. Each gets its keepalive ping within
    the interval plus the checker's period, and every one leaves in the
    second half of a second, not at the top of it where the time push
    starts."""
    server = daphne(extra_args=("--ping-interval", str(PING_INTERVAL), "--ping-timeout", "30"))
    sockets = [open_socket(server.port, "/ws/echo", timeout=5) for _ in range(SOCKETS)]
    try:
        opened = time.time()
        times = first_ping_times(sockets, opened + PING_INTERVAL + 6)
    finally:
        for sock in sockets:
            sock.close()
    missing = sum(1 for moment in times if moment is None)
    assert not missing, f"{missing} of {SOCKETS} sockets got no keepalive ping within {PING_INTERVAL + 6} s"
    phases = sorted(round(moment - math.floor(moment), 3) for moment in times)
    assert all(0.5 <= phase < 0.9 for phase in phases), f"pings at these fractions of a second: {phases}"
