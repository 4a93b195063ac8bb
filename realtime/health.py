"""GET /healthz: is this process able to serve? Checks what every page and
socket depends on: the database and the channel layer (Redis when
REDIS_URL is set). 200 {"status": "ok"} or 503 {"status": "unavailable"},
for load balancers and `docker compose` health checks. The answer is public,
so it names nothing else (no database vendor, no error text: those tell an
attacker what runs behind); what failed and why goes to the server's log
for the operator, one line per failing check.

A plain (sync) view: Django runs it in a worker thread under ASGI, so the
blocking DB and Redis calls never stall the event loop the sockets share.
"""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from realtime.sockets import redis_connection

logger = logging.getLogger(__name__)

# Short: a health check that hangs is as bad as one that fails.
CHECK_TIMEOUT_SECONDS = 2.0


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_channel_layer():
    if not redis_connection.configured():
        return  # in-memory layer: nothing outside this process to reach
    # REDIS_URL, the first shard, or the master the sentinels name.
    client = redis_connection.client(
        socket_timeout=CHECK_TIMEOUT_SECONDS, socket_connect_timeout=CHECK_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()


@never_cache
@require_GET
def healthz(request):
    healthy = True
    for name, check in (("database", check_database), ("channel_layer", check_channel_layer)):
        try:
            check()
        except Exception as error:  # any failure is a reason to take us out of rotation
            healthy = False
            # One line, no traceback: a load balancer polls this every few
            # seconds for as long as the outage lasts.
            detail = " ".join(f"{type(error).__name__}: {error}".split())[:300]
            logger.warning("healthz: %s unavailable: %s", name, detail)
            if name == "database":
                connection.close()  # don't keep a broken connection for the next request
    if healthy:
        return JsonResponse({"status": "ok"})
    return JsonResponse({"status": "unavailable"}, status=503)
