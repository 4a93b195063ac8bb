"""Shared fixtures: real Daphne processes on loopback, the real Redis, and
headless Chromium. Nothing here is mocked; a missing dependency fails the
test with a message that says what to start or install."""

import contextlib
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.paths import CHROMIUM, PYTHON, ROOT
from tests.support.postgres import PostgresUnavailable, postgres_server
from tests.support.redis_servers import OwnRedis, RedisProcesses
from tests.support.servers import DaphneProcess, server_environment

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return url


@pytest.fixture
def daphne(server_database, tmp_path):
    """Start real Daphne servers: `daphne(**env)` returns a running DaphneProcess.
    Environment values override the defaults (SQLite, in-memory layer)."""
    started = []

    def start(extra_args=(), port=None, **env):
        full_env = server_environment(server_database, **env)
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


@pytest.fixture(scope="session")
def postgres_url():
    """An admin URL (user postgres, trust auth) of a real PostgreSQL: the one
    at TEST_POSTGRES_URL if it answers, else a private cluster started for
    this run and stopped after it. Fails (never skips) when neither can be had."""
    try:
        with postgres_server() as url:
            yield url
    except PostgresUnavailable as error:
        pytest.fail(str(error))


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


@pytest.fixture
def redis_processes(tmp_path):
    """redis-server and redis-sentinel processes of the test's own, on free
    ports; all stopped at the end."""
    processes = RedisProcesses(tmp_path)
    yield processes
    processes.stop_all()


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of the test's own (the shared one on 6379 is never
    stopped); the test may stop it and start it again on the same port."""
    redis = OwnRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()
