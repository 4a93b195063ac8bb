"""The compose stack's nginx (deploy/nginx/realtime.conf.template, rendered
with the proxy service's environment from the real compose binary) in front
of a real Daphne started with the `web` service's --proxy-headers:

- a client's forged X-Forwarded-For does not reach the app (the traces
  record the real peer address);
- one client address holds at most NGINX_CONN_PER_CLIENT connections (503
  for the extra ones), another address is not affected;
- a client that does not finish its request headers is dropped after
  NGINX_CLIENT_TIMEOUT.
"""

import http.client
import json
import socket
import time
import uuid
from contextlib import ExitStack

import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from tests.deploy.compose_stack import Processes, compose_model, local_upstream, start_nginx, write_nginx_conf
from tests.support.ports import free_port
from tests.support.trace_db import TRACED, all_stored_text, wait_for_rows

LIMIT = 5
FORGED = "6.6.6.6"
FORGED_PORT = "6666"


@pytest.fixture
def proxied(daphne, tmp_path):
    """(server, nginx port): Daphne as the `web` service runs it, behind nginx
    configured as the `proxy` service, with a limit of LIMIT connections per
    address and a 2 s header timeout set through the compose environment."""
    services = compose_model(env={"NGINX_CONN_PER_CLIENT": str(LIMIT), "NGINX_CLIENT_TIMEOUT": "2s"})["services"]
    assert "--proxy-headers" in services["web"]["command"]
    server = daphne(extra_args=("--proxy-headers",), **TRACED)
    proxy_env = dict(services["proxy"]["environment"])
    assert (proxy_env["NGINX_CONN_PER_CLIENT"], proxy_env["NGINX_CLIENT_TIMEOUT"]) == (str(LIMIT), "2s")
    port = free_port()
    proxy_env = local_upstream(proxy_env, [server.port])
    proxy_env.update(NGINX_LISTEN=f"127.0.0.1:{port}", NGINX_STATIC_ROOT=str(tmp_path / "static"))
    with Processes(tmp_path) as processes:
        start_nginx(processes, write_nginx_conf(tmp_path / "nginx", services["proxy"], proxy_env), port)
        yield server, port


def test_a_forged_x_forwarded_for_does_not_reach_the_app(proxied, server_database):
    """Tried: a page request and a WebSocket through nginx, each with
    `X-Forwarded-For: 6.6.6.6` and `X-Forwarded-Port: 6666`. The app's
    traces name the real peer: its address and the port it connected from;
    and nginx does not say its version."""
    server, port = proxied
    path = f"/no-such-page-{uuid.uuid4().hex}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.connect()
    page_port = connection.sock.getsockname()[1]
    connection.request("GET", path, headers={"X-Forwarded-For": FORGED, "X-Forwarded-Port": FORGED_PORT})
    response = connection.getresponse()
    assert response.status == 404
    assert response.getheader("Server") == "nginx", response.getheader("Server")  # no version
    connection.close()
    forged = {"X-Forwarded-For": FORGED, "X-Forwarded-Port": FORGED_PORT}
    with ws_client.connect(f"ws://127.0.0.1:{port}/ws/echo", additional_headers=forged) as ws:
        socket_port = ws.local_address[1]
        ws.send("who am I")
        assert ws.recv(timeout=5) == "who am I"

    [trace] = wait_for_rows(server_database, "SELECT * FROM realtime_tracerecord WHERE title = ?", (path,))
    assert f"GET {path} from 127.0.0.1:{page_port}" in json.dumps(trace["events"]), trace["events"]
    wait_for_rows(
        server_database,
        "SELECT id FROM realtime_eventlogrecord WHERE title = ?",
        (f"/ws/echo 127.0.0.1:{socket_port}",),
    )
    stored = all_stored_text(server_database)
    assert FORGED not in stored and f":{FORGED_PORT}" not in stored


def test_nginx_error_pages_do_not_say_its_version(proxied):
    """Tried: a request nginx itself refuses (a malformed request line)."""
    _, port = proxied
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    assert received.startswith(b"HTTP/1.1 400"), received[:200]
    assert b"nginx/" not in received, received


def status_from(port, source="127.0.0.1"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    finally:
        connection.close()


def test_one_address_cannot_hold_more_than_its_connections(proxied):
    """Tried: LIMIT WebSockets held open from 127.0.0.1, then one more page
    request and one more socket from the same address (both 503), the same
    request from 127.0.0.2 (served), and again from 127.0.0.1 once one socket
    closed (served: a limit on open connections, not a ban)."""
    _, port = proxied
    with ExitStack() as held:
        sockets = [held.enter_context(ws_client.connect(f"ws://127.0.0.1:{port}/ws/echo")) for _ in range(LIMIT)]
        for ws in sockets:  # each is really open through the proxy
            ws.send("held")
            assert ws.recv(timeout=5) == "held"
        assert status_from(port) == 503
        with pytest.raises(InvalidStatus) as refused:
            with ws_client.connect(f"ws://127.0.0.1:{port}/ws/echo"):
                pass
        assert refused.value.response.status_code == 503
        assert status_from(port, source="127.0.0.2") == 200
        sockets[0].close()
        deadline = time.monotonic() + 5
        while status_from(port) != 200:
            assert time.monotonic() < deadline, "a closed socket should free its slot"
            time.sleep(0.1)


def test_a_client_that_trickles_its_headers_is_dropped(proxied):
    """Tried: a request line and one header, then nothing. nginx closes the
    connection after the 2 s header timeout (its default would be 60 s);
    nothing is forwarded to the app."""
    _, port = proxied
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    waited = time.monotonic() - started
    assert 1.5 < waited < 6, waited
    assert b"200 OK" not in received
