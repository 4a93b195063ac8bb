"""A service that is down is not a setting error: the server runs on, says so
in one line when the service goes and one when it is back (not one per
message, retry or second), /healthz answers 503 meanwhile, and what stopped
resumes on its own.

Tried: a Redis of the test's own is killed (SIGKILL) under a server with an
open /ws/time socket, for ~10 s, while /healthz is polled and an echo socket
is used every half second; then started again on the same port. Likewise a
private PostgreSQL (never the shared one) is stopped under a server that
writes its traces there, and started again. Before, the Redis outage logged
a traceback a second from the channel layer's subscriber and a warning at
every publish retry, and the database outage a traceback a second from the
trace writer plus one line per /healthz poll.
"""

import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from websockets.sync.client import connect

from tests.support.paths import PYTHON, ROOT
from tests.support.postgres import PostgresUnavailable, PrivateCluster, database_url
from tests.support.servers import DaphneProcess, server_environment

OUTAGE_SECONDS = 10
# What the outage may add to the log besides its one line and the access
# log's line per request (not counted: those record the test's own polls).
MAX_LINES_DURING_OUTAGE = 2


def health(server):
    try:
        with urllib.request.urlopen(f"{server.http_url}/healthz", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def lines_since(server, start):
    """The server's log lines from line `start` on, without the access log's."""
    return [line for line in server.output().splitlines()[start:] if '"GET /healthz"' not in line]


def wait_for_line(server, start, text, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in line for line in lines_since(server, start)):
            return
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} line within {timeout} s:\n" + "\n".join(lines_since(server, start)))


def ride_out(server, echo, seconds):
    """Use the server as clients would for `seconds`: /healthz must say 503
    every time, echo must keep working."""
    deadline = time.monotonic() + seconds
    number = 0
    while time.monotonic() < deadline:
        assert health(server) == 503
        number += 1
        echo.send(f"during the outage {number}")
        assert echo.recv(timeout=5) == f"during the outage {number}"
        time.sleep(0.5)


def test_redis_down_is_one_line_going_and_one_back_and_ticks_resume(daphne, own_redis, channel_prefix):
    server = daphne(REDIS_URL=f"redis://127.0.0.1:{own_redis.port}/0", CHANNEL_LAYER_PREFIX=channel_prefix)
    with connect(f"{server.ws_url}/ws/time") as ticks, connect(f"{server.ws_url}/ws/echo") as echo:
        first = json.loads(ticks.recv(timeout=10))["seq"]
        assert health(server) == 200
        start = len(server.output().splitlines())

        own_redis.process.kill()  # SIGKILL: no goodbye to the clients
        own_redis.process.wait(10)
        ride_out(server, echo, OUTAGE_SECONDS)
        during = lines_since(server, start)
        assert sum("Redis is unavailable" in line for line in during) == 1, "\n".join(during)
        assert len(during) <= 1 + MAX_LINES_DURING_OUTAGE, "\n".join(during)
        assert not any("Traceback" in line for line in during), "\n".join(during)
        print(f"Redis down {OUTAGE_SECONDS} s: {len(during)} log lines besides the access log:", *during, sep="\n")

        try:  # ticks that were in flight before Redis went
            while True:
                ticks.recv(timeout=0.2)
        except TimeoutError:
            pass
        own_redis.start()
        back = time.monotonic()
        resumed = json.loads(ticks.recv(timeout=10))["seq"]  # TimeoutError: ticks did not resume
        assert resumed > first and time.monotonic() - back < 10
        assert json.loads(ticks.recv(timeout=3))["seq"] == resumed + 1  # and go on once a second
        wait_for_line(server, start, "Redis is back after", timeout=15)
        time.sleep(3)  # a second "back" line would come within this
        after = lines_since(server, start)
        assert sum("Redis is back after" in line for line in after) == 1, "\n".join(after)
        assert sum("Redis is unavailable" in line for line in after) == 1, "\n".join(after)
        assert health(server) == 200
    assert server.process.poll() is None


@pytest.fixture
def private_postgres():
    """A PostgreSQL of this test's own, to stop and start (never the shared one)."""
    try:
        cluster = PrivateCluster()
    except PostgresUnavailable as error:
        pytest.fail(str(error))
    yield cluster
    cluster.stop()


def test_database_down_is_one_line_going_and_one_back_with_healthz_503(private_postgres, tmp_path):
    import psycopg

    with psycopg.connect(private_postgres.url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE outage")
    url = database_url(private_postgres.url, "outage")
    env = server_environment(url)
    migrated = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrated.returncode == 0, migrated.stderr
    server = DaphneProcess(env, tmp_path / "server.log")
    try:
        with connect(f"{server.ws_url}/ws/echo") as echo:
            echo.send("before")
            assert echo.recv(timeout=5) == "before"
            assert health(server) == 200
            start = len(server.output().splitlines())

            private_postgres.stop_server()
            ride_out(server, echo, OUTAGE_SECONDS)  # echo's traces keep the trace writer at the database
            during = lines_since(server, start)
            assert sum("the database is unavailable" in line for line in during) == 1, "\n".join(during)
            assert len(during) <= 1 + MAX_LINES_DURING_OUTAGE, "\n".join(during)
            assert not any("Traceback" in line for line in during), "\n".join(during)
            print(f"database down {OUTAGE_SECONDS} s: {len(during)} log lines besides the access log")

            private_postgres.start_server()
            deadline = time.monotonic() + 15
            while health(server) != 200:
                assert time.monotonic() < deadline, "/healthz still not 200 15 s after the database came back"
                time.sleep(0.5)
            wait_for_line(server, start, "the database is back after", timeout=15)
            echo.send("after")
            assert echo.recv(timeout=5) == "after"
            time.sleep(3)
            after = lines_since(server, start)
            assert sum("the database is back after" in line for line in after) == 1, "\n".join(after)
            assert sum("the database is unavailable" in line for line in after) == 1, "\n".join(after)
        assert server.process.poll() is None
    finally:
        server.stop()
