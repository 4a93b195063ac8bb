"""The recorder: this process's buffer of traces and its background writer
thread.

On the event loop it only takes: the active set (traces and event logs in
flight), the queue of finished ones, and for received messages an array of
latencies plus a ring of the newest few (`record_message`). Every
REALTIME_TRACE_FLUSH_SECONDS its thread hands what finished to the writer
(realtime.tracing.writer), applies retention every
REALTIME_TRACE_PURGE_SECONDS, and, with Redis configured, publishes a
snapshot of the active set with an expiry so any process can show the
active traces of all of them.

The database modules (writer, retention) are imported when first used:
`realtime.tracing` is imported before Django is set up (by the server's
protocol module), and models cannot be imported then.
"""

import atexit
import collections
import json
import logging
import math
import os
import socket
import threading
import time
from array import array

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

from realtime import housekeeping
from realtime.consumer_kit import redis_connection
from realtime.ops import counts, otel
from realtime.ops.outages import DATABASE, REDIS
from realtime.tracing.events import monotonic, serialize_events

logger = logging.getLogger(__name__)


def wall_clock_offset():
    return time.time() - monotonic()


class Recorder:
    """The per-process buffer and its background writer."""

    def __init__(self, config):
        self.config = config
        # Traces and event logs in flight, by (kind, family), each a dict in
        # start order (a start is taken just before the add): a snapshot
        # takes a family's count and newest few without walking the others,
        # and one process holds an event log per open socket (100,000 on a
        # busy box), so walking them all every flush cost a tenth of a core.
        self.active = {}
        # Bounded: if the writer falls behind by this many, the oldest unwritten
        # traces are dropped rather than memory growing.
        self.pending = collections.deque(maxlen=config["buffer"])  # Trace / EventLog objects
        # Received messages (record_message): every latency goes into a flat
        # array of doubles (8 bytes, no object kept alive); only the newest
        # fast ones (a ring of `keep`) and the rare slow, throttled or failed
        # ones are kept whole, because retention would drop the rest anyway.
        self.message_times = array("d")
        self.recent_messages = collections.deque(maxlen=config["keep"])
        self.notable_messages = collections.deque(maxlen=config["buffer"])
        # Characters (bytes) of a received message kept: none by default
        # (REALTIME_TRACE_PAYLOAD_PREVIEW), only its kind and size.
        self.payload_preview = config["payload_preview"]
        self.family_limit = None  # the writer's FamilyLimit, made on first use
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        self.histograms = {}  # (family, minute) -> Histogram not yet written
        self.flush_lock = threading.Lock()
        self.thread = None
        self.stopping = threading.Event()
        self.last_purge = 0.0
        self.redis = None
        counts.TRACE_QUEUE.watch(lambda: len(self.pending) + len(self.notable_messages))

    def track(self, item):
        """`item` (a Trace or EventLog) is in flight; on the loop."""
        key = (item.kind, item.family)
        family = self.active.get(key)
        if family is None:
            family = self.active[key] = {}
        family[item] = None

    def untrack(self, item):
        family = self.active.get((item.kind, item.family))
        if family is not None:
            family.pop(item, None)

    def active_count(self):
        return sum(len(family) for family in list(self.active.values()))

    def record_message(self, title, data, started, note=None, failed=False, ended=None):
        """One received WebSocket message, on the loop: a subtraction, an
        array append and a small tuple in a ring. See message_recorder."""
        if ended is None:
            ended = monotonic()
        elapsed = ended - started
        self.message_times.append(elapsed)
        size = len(data)
        preview = self.payload_preview
        record = (title, data if size <= preview else data[:preview], size, started, ended, note, failed)
        if note is None and elapsed < 0.05:
            self.recent_messages.append(record)  # a ring by design: no drop
        else:
            notable = self.notable_messages
            if len(notable) == notable.maxlen:
                counts.TRACE_DROPS.inc()
            notable.append(record)

    # -- background thread --------------------------------------------------------

    def start(self):
        if self.thread is None:
            self.thread = threading.Thread(target=self.run, name="trace-writer", daemon=True)
            self.thread.start()
            atexit.register(self.stop)

    def run(self):
        interval = self.config["flush_seconds"]
        while not self.stopping.wait(self.until_next_flush(interval, time.time())):
            try:
                self.flush()
            except (OperationalError, InterfaceError) as error:  # the database is away: one line, not one a second
                DATABASE.failed("writing traces", error)
            except Exception:
                logger.exception("writing traces failed; will retry")
            finally:
                # This thread's connection, as after a request: closed unless
                # CONN_MAX_AGE keeps it, and closed if broken.
                close_old_connections()

    @staticmethod
    def until_next_flush(interval, now):
        """Seconds to the next flush: at the housekeeping moment (half past a
        second, realtime/housekeeping.py says why) on a grid of `interval`.
        A flush holds the GIL for milliseconds: the snapshot walks every open
        socket's event log."""
        if interval <= 0:
            return interval
        wait = housekeeping.seconds_until(now, interval)
        return wait if wait > 0.05 else wait + interval

    def stop(self):
        self.stopping.set()
        try:
            self.flush(publish=False)
        except Exception:
            logger.warning("final trace flush failed", exc_info=True)

    # -- flushing ------------------------------------------------------------------

    @staticmethod
    def drain(queue):
        # Only this thread takes from the queues, so len() items are there.
        return [queue.popleft() for _ in range(len(queue))]

    def flush(self, publish=True):
        """Write what finished since the last flush; publish the active set.
        Runs in the writer thread (or a test's thread), never on the loop."""
        with self.flush_lock:
            times, self.message_times = self.message_times, array("d")
            batch = self.drain(self.pending)
            messages = self.drain(self.recent_messages) + self.drain(self.notable_messages)
            # A record_message() that the swap above interrupted between
            # looking up the array and appending to it finishes now.
            time.sleep(0.001)
            offset = wall_clock_offset()
            otel.export(batch, messages, offset)  # OpenTelemetry spans, when configured
            if batch or messages or times:
                self.write(batch, offset, times, messages, minute=int(time.time() // 60))
                DATABASE.answered()
            now = time.time()
            if now - self.last_purge >= self.config["purge_seconds"]:
                self.last_purge = now
                from realtime.tracing.retention import purge_traces

                purge_traces()
            if publish:
                self.publish_active(offset)
        return len(batch) + len(times)

    def write(self, batch, offset, times=(), messages=(), minute=None):
        """Write a batch now (see realtime.tracing.writer.write)."""
        from realtime.tracing import writer

        writer.write(self, batch, offset, times, messages, minute)

    # -- active traces across processes ----------------------------------------------------

    def snapshot(self, offset=None, per_family=50):
        """The active traces of this process, as JSON-ready dicts (the newest
        `per_family` of each family in full, and a count of all)."""
        offset = wall_clock_offset() if offset is None else offset
        counts = []
        details = []
        # list(): C-level copies, safe against the loop thread adding to them.
        for (kind, family), members in list(self.active.items()):
            items = list(members)
            if not items:
                continue
            counts.append([kind, family, len(items)])
            # In start order: the newest are the last ones.
            for item in reversed(items[-per_family:]):
                details.append(
                    {
                        "kind": item.kind,
                        "family": item.family,
                        "title": item.title,
                        "started": item.start + offset,
                        "elapsed": round(item.elapsed, 6),
                        "error": bool(item.error),
                        "process": self.process,
                        "last_error": (item.last_error + offset) if getattr(item, "last_error", None) else None,
                        "messages_in": getattr(item, "messages_in", 0),
                        "messages_out": getattr(item, "messages_out", 0),
                        "events": serialize_events(item, offset)[-20:],
                    }
                )
        return {
            "process": self.process,
            "at": time.time(),
            "counts": counts,
            "items": details,
        }

    def redis_client(self):
        if not redis_connection.configured():
            return None
        if self.redis is None:
            # REDIS_URL, the first shard, or the Sentinel-named master.
            self.redis = redis_connection.client(socket_timeout=2, socket_connect_timeout=2)
        return self.redis

    def active_key_prefix(self):
        return f"{settings.CHANNEL_LAYER_PREFIX}:tracing:active:"

    def publish_active(self, offset):
        client = self.redis_client()
        if client is None:
            return
        ttl = max(3, int(math.ceil(self.config["flush_seconds"] * 5)))
        try:
            client.set(self.active_key_prefix() + self.process, json.dumps(self.snapshot(offset)), ex=ttl)
        except Exception as error:
            counts.REDIS_ERRORS.inc("trace_publish")
            REDIS.failed("publishing active traces", error)
        else:
            REDIS.answered()

    def all_active(self):
        """Snapshots of every process: this one live, the others from Redis.
        Blocking (Redis): call from a thread, never on the event loop."""
        snapshots = [self.snapshot()]
        client = self.redis_client()
        if client is None:
            return snapshots
        try:
            keys = [
                key
                for key in client.scan_iter(match=self.active_key_prefix() + "*", count=500)
                if key.decode() != self.active_key_prefix() + self.process
            ]
            for raw in client.mget(keys) if keys else []:
                if raw:
                    snapshots.append(json.loads(raw))
        except Exception as error:
            counts.REDIS_ERRORS.inc("trace_read")
            REDIS.failed("reading active traces", error)
        return snapshots
