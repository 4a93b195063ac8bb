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


def test_pages_read_a_clean_1001_and_reconnect_to_the_next_server_after_sigterm(browser, server_database, tmp_path):
    """Three /echo/ pages are open; their server gets SIGTERM. Each page's
    onclose must read 1001 with the server's reason, and a clean close (the
    close handshake ran, then TCP closed in order: a reset could reach the
    browser before the close frame was read, and the page would see 1006).
    A second server process then starts on the same address (a rolling
    restart): every page reconnects by itself, to that process, and Send
    works again."""
    env = server_environment(server_database)
    port = free_port()
    first = DaphneProcess(env, tmp_path / "first.log", port=port)
    second = None
    context = browser.new_context()
    try:
        pages = [context.new_page() for _ in range(3)]
        for page in pages:
            page.goto(f"http://127.0.0.1:{port}/echo/")
            page.wait_for_selector("#status[data-state=connected]", timeout=10000)

        first.process.send_signal(signal.SIGTERM)
        first.process.wait(10)
        for page in pages:
            page.wait_for_selector("#log .log-onclose", timeout=5000)
            # The first close is the server's; later ones are retries meeting nobody.
            said = page.locator("#log .log-onclose").first.inner_text()
            assert said.endswith("connection closed (1001, server shutting down)"), said
            assert page.get_attribute("#status", "data-state") in ("reconnecting", "connecting")

        second = DaphneProcess(env, tmp_path / "second.log", port=port)
        for number, page in enumerate(pages):
            page.wait_for_selector("#status[data-state=connected]", timeout=15000)
            page.fill("#message", f"after the restart {number}")
            page.click("#send")
            page.wait_for_function(
                f"() => document.getElementById('log').textContent.includes('Received: after the restart {number}')",
                timeout=5000,
            )
        assert second.output().count('"WSCONNECT /ws/received"') >= len(pages), second.output()
    finally:
        context.close()
        for server in (first, second):
            if server is not None:
                server.kill()
                server.stop()


def test_a_rolling_restart_behind_one_port_costs_pages_a_clean_1001_and_nothing_else(
    browser, server_database, tmp_path
):
    """Two server processes share one port (REALTIME_REUSE_PORT=1). Three
    /echo/ pages connect while only the first listens; the second starts,
    then the first gets SIGTERM. Each page's only close is the first
    process's clean 1001 (no failed reconnect: its first retry reaches the
    second process, which was listening all along), and Send works again."""
    env = server_environment(server_database, REALTIME_REUSE_PORT="1")
    port = free_port()
    first = DaphneProcess(env, tmp_path / "first.log", port=port)
    second = None
    context = browser.new_context()
    try:
        pages = [context.new_page() for _ in range(3)]
        for page in pages:
            page.goto(f"http://127.0.0.1:{port}/echo/")
            page.wait_for_selector("#status[data-state=connected]", timeout=10000)
        second = DaphneProcess(env, tmp_path / "second.log", port=port)
        # The port answered at once (the first process): wait for the second's own listener.
        deadline = time.monotonic() + 30
        while "Listening on TCP address" not in second.output():
            assert second.process.poll() is None and time.monotonic() < deadline, second.output()
            time.sleep(0.1)

        first.process.send_signal(signal.SIGTERM)
        first.process.wait(10)
        for number, page in enumerate(pages):
            page.wait_for_function("() => document.querySelectorAll('#log .log-onopen').length >= 2", timeout=10000)
            page.wait_for_selector("#status[data-state=connected]", timeout=10000)
            closes = page.locator("#log .log-onclose").all_inner_texts()
            assert len(closes) == 1 and closes[0].endswith("connection closed (1001, server shutting down)"), closes
            page.fill("#message", f"after the restart {number}")
            page.click("#send")
            page.wait_for_function(
                f"() => document.getElementById('log').textContent.includes('Received: after the restart {number}')",
                timeout=5000,
            )
        assert second.output().count('"WSCONNECT /ws/received"') >= len(pages), second.output()
    finally:
        context.close()
        for server in (first, second):
            if server is not None:
                server.kill()
                server.stop()
