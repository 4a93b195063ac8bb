"""GET /healthz on a real Daphne: 200 when the database and the channel layer
answer, 503 with the reason when one of them does not."""

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
    status, body = get_health(daphne())
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["database"].startswith("ok") and "sqlite" in body["database"]
    assert body["channel_layer"].startswith("ok (in-memory")


def test_healthy_with_redis(daphne, redis_url, channel_prefix):
    status, body = get_health(daphne(REDIS_URL=redis_url, CHANNEL_LAYER_PREFIX=channel_prefix))
    assert status == 200, body
    assert body["channel_layer"] == "ok (redis)"


def test_503_names_the_channel_layer_when_redis_is_unreachable(daphne):
    """Tried: REDIS_URL pointing at a port nothing listens on."""
    server = daphne(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    status, body = get_health(server)
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["channel_layer"].startswith("error:") and "Connection" in body["channel_layer"]
    assert body["database"].startswith("ok")


def test_503_names_the_database_when_it_is_unreachable(daphne):
    """Tried: DATABASE_URL pointing at a PostgreSQL port nothing listens on.
    The page still answers (quickly, as JSON) instead of hanging or 500."""
    server = daphne(DATABASE_URL=f"postgres://nobody@127.0.0.1:{free_port()}/nothing")
    status, body = get_health(server)
    assert status == 503
    assert body["database"].startswith("error:") and "connect" in body["database"].lower()
    assert body["channel_layer"].startswith("ok")
