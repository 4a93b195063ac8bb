"""GET /healthz on a real Daphne: 200 when the database and the channel layer
answer, 503 when one of them does not. The answer is public, so it says the
status and nothing else; the reason is in the server's log."""

import json
import urllib.error
import urllib.request

from tests.support.ports import free_port


def get_health(server):
    try:
        with urllib.request.urlopen(f"{server.http_url}/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_healthy_with_sqlite_and_the_in_memory_layer(daphne):
    """Tried: a plain GET, as anyone on the network can send it: the answer
    names no database vendor nor channel layer."""
    status, body = get_health(daphne())
    assert (status, body) == (200, {"status": "ok"})


def test_healthy_with_redis(daphne, redis_url, channel_prefix):
    status, body = get_health(daphne(REDIS_URL=redis_url, CHANNEL_LAYER_PREFIX=channel_prefix))
    assert (status, body) == (200, {"status": "ok"})


def test_503_when_redis_is_unreachable_and_the_reason_only_in_the_log(daphne):
    """Tried: REDIS_URL pointing at a port nothing listens on. The public
    answer is the status alone; the log names Redis and the error, on one
    line, without a traceback."""
    server = daphne(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    status, body = get_health(server)
    assert (status, body) == (503, {"status": "unavailable"})
    log = server.output()
    (line,) = [line for line in log.splitlines() if "is unavailable" in line]
    assert "Redis is unavailable" in line and "Connection" in line, line
    assert "Traceback" not in log


def test_503_when_the_database_is_unreachable_without_its_error_text(daphne):
    """Tried: DATABASE_URL pointing at a PostgreSQL port nothing listens on.
    The page still answers (quickly, as JSON) instead of hanging or 500, and
    the psycopg error text (host, port, user) stays in the log."""
    port = free_port()
    server = daphne(DATABASE_URL=f"postgres://nobody@127.0.0.1:{port}/nothing")
    status, body = get_health(server)
    assert (status, body) == (503, {"status": "unavailable"})
    line = next(line for line in server.output().splitlines() if "is unavailable" in line)
    assert "the database is unavailable" in line and str(port) in line, line
