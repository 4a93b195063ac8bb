"""GET /healthz: is this process able to serve? Checks what every page and
socket depends on: the database and the channel layer (Redis when
REDIS_URL is set). 200 {"status": "ok", ...} or 503 with the reason, for
load balancers, `docker compose` health checks and operators.

A plain (sync) view: Django runs it in a worker thread under ASGI, so the
blocking DB and Redis calls never stall the event loop the sockets share.
"""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from realtime.sockets import redis_connection

# Short: a health check that hangs is as bad as one that fails.
CHECK_TIMEOUT_SECONDS = 2.0


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return f"ok ({connection.vendor})"


def check_channel_layer():
    if not redis_connection.configured():
        return "ok (in-memory, this process only)"
    # REDIS_URL, the first shard, or the master the sentinels name.
    client = redis_connection.client(
        socket_timeout=CHECK_TIMEOUT_SECONDS, socket_connect_timeout=CHECK_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok (redis)"


@never_cache
@require_GET
def healthz(request):
    report, healthy = {}, True
    for name, check in (("database", check_database), ("channel_layer", check_channel_layer)):
        try:
            report[name] = check()
        except Exception as error:  # any failure is a reason to take us out of rotation
            healthy = False
            report[name] = f"error: {type(error).__name__}: {error}".strip()
            if name == "database":
                connection.close()  # don't keep a broken connection for the next request
    report["status"] = "ok" if healthy else "unavailable"
    return JsonResponse(report, status=200 if healthy else 503)
