"""Slowloris against a server reached directly (no nginx in front): a
connection that never finishes its request header is cut after
REALTIME_HEADER_TIMEOUT_SECONDS (2 s here; 15 by default), however it
trickles; Twisted alone would wait 12 hours. Complete requests, kept-alive
connections within the bound and WebSocket handshakes are not affected."""

import http.client
import socket
import time

from websockets.sync.client import connect

TIMEOUT = 2.0


def seconds_until_closed(sock, limit, trickle=None):
    """Seconds until the server closes `sock` (recv returns b"" or a reset),
    sending `trickle` every 0.5 s meanwhile; None if still open at `limit`."""
    started = time.monotonic()
    sock.settimeout(0.5)
    while time.monotonic() - started < limit:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            if trickle:
                try:
                    sock.sendall(trickle)
                except (BrokenPipeError, ConnectionResetError):
                    return time.monotonic() - started
        except ConnectionResetError:
            return time.monotonic() - started
    return None


def test_half_a_request_header_is_cut_within_the_bound(daphne):
    server = daphne(REALTIME_HEADER_TIMEOUT_SECONDS=TIMEOUT)
    silent = socket.create_connection(("127.0.0.1", server.port))
    silent.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    trickling = socket.create_connection(("127.0.0.1", server.port))
    trickling.sendall(b"GET / HTTP/1.1\r\n")
    nothing = socket.create_connection(("127.0.0.1", server.port))

    # A byte every half second does not buy more time.
    waited = [
        seconds_until_closed(trickling, TIMEOUT + 10, trickle=b"X"),
        seconds_until_closed(silent, TIMEOUT + 10),
        seconds_until_closed(nothing, TIMEOUT + 10),
    ]
    for sock in (silent, trickling, nothing):
        sock.close()
    assert all(w is not None for w in waited), f"a half-open request was still open after {TIMEOUT + 10} s: {waited}"
    assert max(waited) < TIMEOUT + 3, waited

    # Meanwhile and after, complete requests are served; a kept-alive
    # connection serves a second request sent within the bound, and a
    # WebSocket outlives the bound.
    with connect(f"{server.ws_url}/ws/echo", open_timeout=10) as ws:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() and True
        time.sleep(TIMEOUT / 2)
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        assert response.status == 200, response.status
        response.read()
        connection.close()
        time.sleep(TIMEOUT + 1)
        ws.send("still open")
        assert ws.recv(timeout=10) == "still open"


def test_a_kept_alive_connection_idle_past_the_bound_is_cut(daphne):
    server = daphne(REALTIME_HEADER_TIMEOUT_SECONDS=TIMEOUT)
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
    sock.settimeout(10)
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    waited = seconds_until_closed(sock, TIMEOUT + 10)
    sock.close()
    assert waited is not None and waited < TIMEOUT + 3, waited
