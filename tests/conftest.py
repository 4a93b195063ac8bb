"""Shared fixtures: real Daphne processes on loopback, the real Redis, and
headless Chromium. Nothing here is mocked; a missing dependency fails the
test with a message that says what to start or install."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=15.0, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class DaphneProcess:
    """`python -m realtime.serve` on a free loopback port, as `make run` starts it."""

    def __init__(self, env, log_path, extra_args=(), port=None):
        # A given port lets a test restart a server where its clients expect it.
        self.port = port or free_port()
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [PYTHON, "-m", "realtime.serve", "-v", "1", "-b", "127.0.0.1", "-p", str(self.port),
             *extra_args, "config.asgi:application"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        if not wait_for_port(self.port, process=self.process):
            self.stop()
            raise RuntimeError(f"Daphne did not start; its output:\n{self.output()}")

    @property
    def http_url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}"

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return Path(self.log_path).read_text(errors="replace")

    def kill(self):
        """Die without any cleanup, like a crashed process."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture(autouse=True, scope="session")
def no_trace_writer_in_test_process():
    """Consumers tested in-process still record traces (the tracing code runs
    in every test), but this process starts no background writer: it would
    store them in pytest-django's test database behind the tests' backs.
    Daphne subprocesses write as in production; tracing tests flush
    explicitly (realtime.tracing.flush())."""
    from realtime import tracing

    tracing.AUTO_START_WRITER = False


@pytest.fixture(scope="session")
def server_database(tmp_path_factory):
    """A migrated SQLite file for the Daphne subprocesses (they are separate
    processes, so they cannot share pytest-django's in-memory test DB)."""
    path = tmp_path_factory.mktemp("db") / "server.sqlite3"
    url = f"sqlite:///{path}"
    result = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    return url


@pytest.fixture
def daphne(server_database, tmp_path):
    """Start real Daphne servers: `daphne(**env)` returns a running DaphneProcess.
    Environment values override the defaults (SQLite, in-memory layer)."""
    started = []

    def start(extra_args=(), port=None, **env):
        # The caller's REDIS_URL only: a test without one runs the in-memory layer.
        inherited = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
        full_env = {
            **inherited,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": server_database,
            "PYTHONUNBUFFERED": "1",
            **{key: str(value) for key, value in env.items()},
        }
        server = DaphneProcess(full_env, tmp_path / f"daphne-{len(started)}.log", extra_args, port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def redis_url():
    """The machine's real Redis. Fails (never skips) when it is not running."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        pytest.fail(
            f"this test needs a running Redis at {REDIS_URL} ({error}); start one with "
            "`redis-server --daemonize yes --port 6379` or set TEST_REDIS_URL"
        )
    return REDIS_URL


@pytest.fixture
def channel_prefix():
    """A channel-layer prefix of this test's own, so tests sharing one Redis
    never see each other's groups or publisher lease."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"this test needs Chromium at {CHROMIUM}: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


# Playwright's sync API runs its event loop in this thread between calls, so
# once the session's browser exists asyncio sees a "running" loop here and
# every later async test fails ("Runner.run() cannot be called from a running
# event loop"). Async tests never use the browser: hide its loop while one runs.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with _without_playwright_loop(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with _without_playwright_loop(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    with _without_playwright_loop(item):
        return (yield)


@contextlib.contextmanager
def _without_playwright_loop(item):
    import asyncio.events
    import inspect

    saved = asyncio.events._get_running_loop()
    if saved is None or not inspect.iscoroutinefunction(getattr(item, "obj", None)):
        yield
        return
    asyncio.events._set_running_loop(None)
    try:
        yield
    finally:
        asyncio.events._set_running_loop(saved)
