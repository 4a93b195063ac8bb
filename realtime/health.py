"""GET /healthz: is this process able to serve? Checks what every page and
socket depends on: the database and the channel layer (Redis when
REDIS_URL is set). 200 {"status": "ok"} or 503 {"status": "unavailable"},
for load balancers and `docker compose` health checks. The answer is public,
so it names nothing else (no database vendor, no error text: those tell an
attacker what runs behind); what failed and why goes to the server's log
for the operator, in one line when the service goes and one when it is back
(realtime/ops/outages.py), however often the check is polled.

A plain (sync) view: Django runs it in a worker thread under ASGI, so the
blocking DB and Redis calls never stall the event loop the sockets share.
"""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from realtime.consumer_kit import redis_connection
from realtime.ops.outages import DATABASE, REDIS

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
    client = redis_connection.client(socket_timeout=CHECK_TIMEOUT_SECONDS, socket_connect_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        client.ping()
    finally:
        client.close()


@never_cache
@require_GET
def healthz(request):
    healthy = True
    for service, check in ((DATABASE, check_database), (REDIS, check_channel_layer)):
        try:
            check()
        except Exception as error:  # any failure is a reason to take us out of rotation
            healthy = False
            # Logged when the service goes (and when it is back), not at
            # every poll: a load balancer polls this every few seconds.
            service.failed("healthz", error)
            if service is DATABASE:
                connection.close()  # don't keep a broken connection for the next request
        else:
            service.answered()
    if healthy:
        return JsonResponse({"status": "ok"})
    return JsonResponse({"status": "unavailable"}, status=503)
