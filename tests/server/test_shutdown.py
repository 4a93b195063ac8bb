"""SIGTERM: every open socket gets a close frame with 1001 (going away)
before the process exits, and a page reconnects to the next server on its
own (a rolling restart: the replacement listens on the same address)."""

import signal
import time
from contextlib import ExitStack

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.ports import free_port
from tests.support.servers import DaphneProcess, server_environment


def test_sigterm_closes_every_socket_with_1001_then_exits(daphne):
    """Tried: three sockets of different kinds open (echo, time, and one in
    the middle of nothing), then SIGTERM. Each must see close code 1001 (not
    1006, a dropped connection) and the process must exit promptly."""
    server = daphne()
    stack = ExitStack()
    paths = ("/ws/echo", "/ws/time", "/ws/received")
    sockets = [stack.enter_context(connect(f"{server.ws_url}{path}")) for path in paths]
    sockets[0].send("before")
    assert sockets[0].recv(timeout=3) == "before"

    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    codes = []
    for ws in sockets:
        try:
            while True:
                ws.recv(timeout=5)  # ticks may still arrive before the close
        except ConnectionClosed as closed:
            codes.append(closed.rcvd.code if closed.rcvd else None)
    stack.close()
    assert codes == [1001, 1001, 1001], server.output()
    server.process.wait(10)
    assert time.monotonic() - started < 8, "Daphne took too long to exit after SIGTERM"


def test_page_reconnects_to_the_next_server_after_sigterm(page, server_database, tmp_path):
    """The /echo/ page is open; its server gets SIGTERM (the page logs close
    code 1001) and a new server starts on the same address. The page must
    reconnect by itself and Send must work again."""
    env = server_environment(server_database)
    port = free_port()
    first = DaphneProcess(env, tmp_path / "first.log", port=port)
    second = None
    try:
        page.goto(f"http://127.0.0.1:{port}/echo/")
        page.wait_for_selector("#status[data-state=connected]", timeout=10000)

        first.process.send_signal(signal.SIGTERM)
        first.process.wait(10)
        page.wait_for_selector("#log .log-onclose", timeout=5000)
        assert "(1001" in page.inner_text("#log .log-onclose")
        assert page.get_attribute("#status", "data-state") == "reconnecting"

        second = DaphneProcess(env, tmp_path / "second.log", port=port)
        page.wait_for_selector("#status[data-state=connected]", timeout=15000)
        page.fill("#message", "after the restart")
        page.click("#send")
        page.wait_for_function(
            "() => document.getElementById('log').textContent.includes('Received: after the restart')",
            timeout=5000,
        )
    finally:
        for server in (first, second):
            if server is not None:
                server.kill()
                server.stop()
