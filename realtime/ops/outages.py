"""A service the server depends on (the database, Redis) going away and coming
back, said in one log line each way: not one per message, retry or second.

Code that meets a failure of the service calls `REDIS.failed(where, error)`
(or DATABASE's); code that just used it successfully calls
`REDIS.answered()`. The first failure while the service was up logs a
warning (where it was seen and the error, one line, no traceback); the
first success after that logs that it is back, with how long it was away.
Everything else keeps counting its own errors (realtime.ops.counts).

Redis's success must come REDIS_SETTLE_SECONDS after its last failure.
Several parts of the server use Redis (the channel layer's subscriber
retries every second, the tick lease, trace snapshots, presence), and with
shards one of them may keep failing while another succeeds: the wait keeps
that from flapping between the two lines. A later success says it (the
trace writer uses Redis every second). A database outage lasts at least
DATABASE_MIN_OUTAGE_SECONDS: a restart meets each thread's connection in
turn, and the first to reconnect must not say "back" before the next fails.

A service that is down is not a setting error: the server keeps running,
/healthz answers 503 meanwhile, and every user of the service retries on
its own schedule. Called from the event loop and from worker threads (the
trace writer, health checks): the state is under a lock.
"""

import logging
import threading
import time
import weakref

logger = logging.getLogger(__name__)

# A success counts as "back" only this long after the last failure: the
# channel layer's subscriber fails again about every second while Redis is away.
REDIS_SETTLE_SECONDS = 2.0
# A database outage lasts at least this long: each thread has its own
# connection (the chat's, the trace writer's), and each meets a restart on
# its own next use, up to a second after another has reconnected.
DATABASE_MIN_OUTAGE_SECONDS = 2.0
MAX_DETAIL_CHARS = 300


def one_line(error):
    """`error` as "Type: message" on one line, cut short."""
    return " ".join(f"{type(error).__name__}: {error}".split())[:MAX_DETAIL_CHARS]


class Service:
    def __init__(self, name, settle_seconds=0.0, log=logger, min_outage_seconds=0.0):
        self.name = name
        self.settle_seconds = settle_seconds
        self.min_outage_seconds = min_outage_seconds
        self.log = log
        self.lock = threading.Lock()
        self.down_since = None  # time.monotonic() of the first failure, while down
        self.last_failure = 0.0
        # Told of every failure, not just the first (`service_failed(where,
        # error)`, from whichever thread met it): the hub's layer watch
        # (realtime/consumer_kit/layer_watch.py) learns that the channel layer's
        # subscriber lost its connection, even if it is back within a probe.
        self.watchers = weakref.WeakSet()

    @property
    def down(self):
        return self.down_since is not None

    def failed(self, where, error):
        """`where` (what was being done) met `error`; says so if this is news."""
        now = time.monotonic()
        for watcher in list(self.watchers):
            watcher.service_failed(where, error)
        with self.lock:
            self.last_failure = now
            if self.down_since is not None:
                return
            self.down_since = now
        self.log.warning(
            "%s is unavailable (%s: %s); carrying on and retrying, will say when it is back",
            self.name,
            where,
            error if isinstance(error, str) else one_line(error),
        )

    def answered(self):
        """The service just did what was asked; says it is back if it was away."""
        if self.down_since is None:  # the usual case, without the lock
            return
        now = time.monotonic()
        with self.lock:
            if (
                self.down_since is None
                or now - self.last_failure < self.settle_seconds
                or now - self.down_since < self.min_outage_seconds
            ):
                return
            away, self.down_since = now - self.down_since, None
        self.log.warning("%s is back after %.1f s", self.name, away)


DATABASE = Service("the database", min_outage_seconds=DATABASE_MIN_OUTAGE_SECONDS)
REDIS = Service("Redis", settle_seconds=REDIS_SETTLE_SECONDS)


class ChannelLayerReceiveErrors(logging.Filter):
    """On channels-redis's pub/sub logger: its subscriber task logs a
    traceback every second while Redis is away ("Unexpected exception in
    receive task") and then tries again. Those become REDIS.failed (one line
    when it goes); its other records pass."""

    def filter(self, record):
        if record.getMessage() != "Unexpected exception in receive task":
            return True
        error = record.exc_info[1] if record.exc_info else record.getMessage()
        REDIS.failed("channel layer subscriber", error)
        return False


class HealthCheckAnswers(logging.Filter):
    """On django.request: Django logs every 5xx response as an error, which
    made each /healthz poll during an outage one more line; the outage was
    already said once (the check's `failed` above)."""

    def filter(self, record):
        request = getattr(record, "request", None)
        return not (getattr(record, "status_code", None) == 503 and getattr(request, "path", None) == "/healthz")


def install_log_filters():
    logging.getLogger("channels_redis.pubsub").addFilter(ChannelLayerReceiveErrors())
    logging.getLogger("django.request").addFilter(HealthCheckAnswers())
