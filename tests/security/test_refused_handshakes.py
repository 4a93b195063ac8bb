"""Requests a server refuses before any application sees them must cost one
log line at most, never a traceback: each was ~20-40 lines, which anyone
could repeat as fast as they can connect.

What is tried, five times each, against a real server: WebSocket handshakes
that autobahn refuses (Origin `null`, an unparsable Origin, a bad
Sec-WebSocket-Key) and a page request for a Host not in ALLOWED_HOSTS. The
client gets its 400 each time; the log gets no traceback, and at most one
line per request."""

import base64
import os
import socket
import time

ATTEMPTS = 5


def status_of(port, request):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode("latin-1"))
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    return head.split(b"\r\n", 1)[0].decode("latin-1")


def handshake(port, key=None, origin=None):
    key = key or base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
        + (f"Origin: {origin}\r\n" if origin else "")
        + "\r\n"
    )


def test_refused_handshakes_and_foreign_hosts_cost_one_line_and_no_traceback(daphne):
    server = daphne()
    time.sleep(0.5)
    lines_before = len(server.output().splitlines())
    refused = {
        "Origin null": handshake(server.port, origin="null"),
        "unparsable Origin": handshake(server.port, origin="http://[bad"),
        "bad Sec-WebSocket-Key": handshake(server.port, key="abc"),
        "foreign Host": "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    }
    for name, request in refused.items():
        for _ in range(ATTEMPTS):
            status = status_of(server.port, request)
            assert status.startswith("HTTP/1.1 400"), (name, status)
    # A request that follows is served and logged: the log is up to date.
    assert status_of(server.port, f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n").startswith(
        "HTTP/1.1 200"
    )
    deadline = time.monotonic() + 10
    while '"GET /healthz"' not in server.output() and time.monotonic() < deadline:
        time.sleep(0.05)

    new_lines = server.output().splitlines()[lines_before:]
    assert not [line for line in new_lines if "Traceback" in line or "Error:" in line], "\n".join(new_lines[:60])
    # At most one line per request (the access log's and Django's own),
    # plus the health check's.
    assert len(new_lines) <= len(refused) * ATTEMPTS * 2 + 2, "\n".join(new_lines)
    foreign = [line for line in new_lines if "Invalid HTTP_HOST header: 'evil.example'" in line]
    assert len(foreign) == ATTEMPTS, "\n".join(new_lines)
