"""Cross-site WebSocket hijacking against a real server: a page on another
origin (another port or scheme of the same host included) tries to open a
socket, with the visitor's session cookie, as a browser would send it. The
Origin is compared whole (scheme, host, port) with the site's own origin
and the configured ones; a handshake without Origin (not a browser) is
still served."""

import base64
import os
import socket
import ssl
import subprocess

from tests.support.chat import http_signup, unique
from tests.support.paths import PYTHON, ROOT
from tests.support.ports import free_port, wait_for_port


def handshake(port, path, headers, tls_context=None, server_hostname=None):
    """Send an opening handshake with exactly these headers (Host included,
    so it can be forged); return the HTTP status code of the answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls_context is not None:
        sock = tls_context.wrap_socket(sock, server_hostname=server_hostname)
    try:
        lines = [
            f"GET {path} HTTP/1.1",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(1024)
            if not chunk:
                break
            head += chunk
        return int(head.split(b" ", 2)[1])
    finally:
        sock.close()


def status_for(server, origin, host=None, path="/ws/echo", **more):
    headers = {"Host": host or f"127.0.0.1:{server.port}"}
    if origin is not None:
        headers["Origin"] = origin
    headers.update(more)
    return handshake(server.port, path, headers)


def test_only_the_sites_own_full_origin_is_accepted_by_default(daphne):
    """Tried, against a server on 127.0.0.1:<port>: pages on another port of
    the same host, on https, on the default port, on localhost, on other
    sites and look-alikes, an opaque "null" origin; the Host header forged
    to match a foreign Origin (DNS rebinding)."""
    server = daphne()
    port = server.port
    refused = [
        "http://127.0.0.1:9999",
        f"http://127.0.0.1:{port + 1}",
        f"https://127.0.0.1:{port}",
        "http://127.0.0.1",
        f"http://localhost:{port}",
        "http://evil.example",
        f"http://127.0.0.1.evil.example:{port}",
        f"http://evil.example@127.0.0.1:{port}",
        f"ws://127.0.0.1:{port}",
        "null",
        "",
    ]
    for origin in refused:
        # 403 from the Origin check; autobahn answers 400 to an Origin it cannot parse.
        assert status_for(server, origin) in (400, 403), origin
    # DNS rebinding: evil.example resolves to this server; the browser sends
    # Host and Origin of evil.example alike.
    assert status_for(server, "http://evil.example", host="evil.example") == 403
    assert status_for(server, f"http://evil.example:{port}", host=f"evil.example:{port}") == 403
    # The page's own origin, in any letter case, and a client without Origin.
    assert status_for(server, f"http://127.0.0.1:{port}") == 101
    assert status_for(server, f"HTTP://127.0.0.1:{port}") == 101
    assert status_for(server, None) == 101
    # localhost is served as its own site.
    assert status_for(server, f"http://localhost:{port}", host=f"localhost:{port}") == 101


async def test_a_foreign_page_cannot_open_a_logged_in_chat_socket(daphne):
    """Tried: the chat socket with a member's session cookie, from a page on
    another port of the same host (the audit's http://127.0.0.1:9999)."""
    server = daphne()
    session = http_signup(server, unique("victim"))
    room = unique("hijack")
    cookie = f"sessionid={session}"
    assert status_for(server, "http://127.0.0.1:9999", path=f"/ws/chat/{room}/", Cookie=cookie) == 403
    assert status_for(server, f"http://127.0.0.1:{server.port}", path=f"/ws/chat/{room}/", Cookie=cookie) == 101


def test_configured_origins_are_matched_whole(daphne):
    """Tried: origins that share only the host, only the scheme, or only a
    suffix with the configured REALTIME_ALLOWED_ORIGINS and the wildcard
    CSRF_TRUSTED_ORIGINS entry."""
    server = daphne(
        REALTIME_ALLOWED_ORIGINS="https://app.example.com:8443", DJANGO_CSRF_TRUSTED_ORIGINS="https://*.example.org"
    )
    for origin in [
        "https://app.example.com:8443",
        "https://chat.example.org",
        "https://a.b.example.org",
        "https://example.org",
    ]:
        assert status_for(server, origin) == 101, origin
    for origin in [
        "http://app.example.com:8443",
        "https://app.example.com",
        "https://app.example.com:9443",
        "https://evil.app.example.com:8443",
        "http://chat.example.org",
        "https://chat.example.org:8443",
        "https://evil-example.org",
        "https://example.org.evil.com",
    ]:
        assert status_for(server, origin) == 403, origin


def test_behind_a_tls_proxy_the_forwarded_scheme_counts(daphne):
    """Tried, on a server run with --proxy-headers as behind nginx: the
    https page's origin is accepted when the proxy says https, its http twin
    is refused; and without --proxy-headers a client cannot make itself
    https by sending X-Forwarded-Proto."""
    proxied = daphne(extra_args=["--proxy-headers"])
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    host = "localhost:8443"
    assert status_for(proxied, "https://localhost:8443", host=host, **forwarded) == 101
    assert status_for(proxied, "http://localhost:8443", host=host, **forwarded) == 403
    plain = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"}
    assert status_for(proxied, "http://localhost:8080", host="localhost:8080", **plain) == 101
    assert status_for(proxied, "https://localhost:8080", host="localhost:8080", **plain) == 403

    direct = daphne()
    assert status_for(direct, f"https://127.0.0.1:{direct.port}", **forwarded) == 403


def test_over_tls_the_https_origin_is_the_sites_own(daphne, tmp_path):
    """Tried, on Daphne's own TLS port: the https page's origin (accepted)
    and the http origin of the same host and port (refused)."""
    certs = tmp_path / "certs"
    made = subprocess.run([PYTHON, "scripts/dev_cert.py", str(certs)], cwd=ROOT, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    tls_port = free_port()
    server = daphne(
        REALTIME_TLS_CERT_FILE=certs / "server.pem",
        REALTIME_TLS_KEY_FILE=certs / "server-key.pem",
        REALTIME_TLS_PORT=tls_port,
    )
    assert wait_for_port(tls_port, process=server.process), server.output()
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))

    def tls_status(origin):
        return handshake(
            tls_port,
            "/ws/echo",
            {"Host": f"localhost:{tls_port}", "Origin": origin},
            tls_context=context,
            server_hostname="localhost",
        )

    assert tls_status(f"https://localhost:{tls_port}") == 101
    assert tls_status(f"http://localhost:{tls_port}") == 403
