"""`python manage.py runserver`, started as a developer starts it (autoreload
on), serves this project's server, not stock Daphne."""

import os
import signal
import subprocess
import time

from websockets.sync.client import connect

from tests.support.paths import PYTHON, ROOT
from tests.support.ports import free_port


def wait_until_serving(port, process, log_path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"runserver exited; its output:\n{log_path.read_text(errors='replace')}"
        try:
            with connect(f"ws://127.0.0.1:{port}/ws/echo", open_timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"runserver did not serve in {timeout} s; its output:\n{log_path.read_text(errors='replace')}")


def test_manage_py_runserver_serves_the_project_server(server_database, tmp_path):
    """Tried: `python manage.py runserver 127.0.0.1:PORT` with the autoreloader
    (its own child process serves). An empty message on /ws/echo comes back
    (stock Daphne drops it), Chrome's offer gets the project's
    permessage-deflate parameters (stock Daphne declines every offer), the
    banner names RealtimeServer on uvloop, and the whole process group stops
    on SIGTERM."""
    port = free_port()
    log_path = tmp_path / "runserver.log"
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "REALTIME_UVLOOP")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DATABASE_URL=server_database, PYTHONUNBUFFERED="1")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(port, process, log_path)
        with connect(f"ws://127.0.0.1:{port}/ws/echo") as ws:  # the websockets client offers as Chrome does
            assert ws.response.headers.get("Sec-WebSocket-Extensions") == (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                "server_max_window_bits=12; client_max_window_bits=12"
            )
            ws.send("")
            assert ws.recv(timeout=3) == ""
            ws.send(b"")
            assert ws.recv(timeout=3) == b""
        output = log_path.read_text(errors="replace")
        assert "Watching for file changes" in output  # the autoreloader is on
        assert "Serving with realtime.server.RealtimeServer on uvloop.Loop" in output, output
    finally:
        # The autoreloader's child serves: stop the whole group.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    time.sleep(0.5)
    leftover = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True).stdout
    assert not leftover.strip(), f"processes left in the group: {leftover}"
