"""Request tracing in the shape of Go's golang.org/x/net/trace.

    trace = tracing.new("websocket.Receive", "/ws/mouse")
    trace.log("decoded %d bytes", n)            # formatted later, off the loop
    trace.log("user %s", name, sensitive=True)  # shown as [redacted] to most viewers
    trace.set_error()
    trace.finish()

    log = tracing.new_event_log("websocket.Conn", "/ws/mouse 127.0.0.1:5000")
    log.printf("accepted"); log.errorf("closed with 1009"); log.finish()

How recording stays off the event loop: `new`, `log` and `finish` only
append tuples to lists and move the object between an in-memory set (the
active traces) and a deque (finished, not yet written). Formatting, the
payload summary, scrubbing of secrets, the latency histograms, retention and
every database and Redis call happen in one background thread per process
(`Recorder.flush`, every REALTIME_TRACE_FLUSH_SECONDS).

Retention is that of x/net/trace: the last REALTIME_TRACE_KEEP (10) traces
per family and latency bucket, plus the last 10 errors per family, and
nothing older than REALTIME_TRACE_MAX_AGE_SECONDS. The flusher applies the
rule to each batch *before* writing, so a burst of 20,000 messages a second
writes at most ~90 rows per family per flush instead of 20,000 rows that the
purge would delete anyway. The histograms count every trace.

Active traces (requests in flight, open connections) are in the process's
`active` set; with Redis configured each process also publishes a snapshot of
its set to Redis every flush, with an expiry, so any process can show the
active traces of all of them.
"""

import atexit
import collections
from array import array
import json
import logging
import math
import operator
import os
import re
import socket
import threading
import time
from datetime import datetime, timezone

from realtime.ops import otel

logger = logging.getLogger(__name__)

monotonic = time.monotonic

# Latency buckets of the summary, as in x/net/trace's /debug/requests.
BUCKET_BOUNDS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 10.0, 100.0)
BUCKET_LABELS = ("≥0s", "≥50ms", "≥100ms", "≥200ms", "≥500ms", "≥1s", "≥10s", "≥100s")

# Histogram buckets: bucket i holds [2**(i-1), 2**i) microseconds (bucket 0: < 1 µs),
# the log-2 buckets of x/net/trace's histogram.
HISTOGRAM_BUCKETS = 38

# Event-log error windows of /debug/events.
ERROR_WINDOWS = ((10, "errs<10s"), (60, "errs<1m"), (600, "errs<10m"), (3600, "errs<1h"), (36000, "errs<10h"))

RECEIVE_FAMILY = "websocket.Receive"
CONNECTION_FAMILY = "websocket.Conn"

MAX_EVENTS_PER_TRACE = 30  # x/net/trace keeps 10; a few more help with HTTP
MAX_EVENTS_PER_LOG = 100  # as x/net/trace's event logs
MAX_EVENT_TEXT = 300
PAYLOAD_PREVIEW = 80
REDACTED = "[redacted]"


MICROS_PER_SECOND = 1e6
STARTED = operator.itemgetter(3)  # of a received-message tuple (see message_recorder)
ENDED = operator.itemgetter(4)


def bucket_of(elapsed):
    """Index of the highest summary bucket whose lower bound `elapsed` reaches."""
    if elapsed < 0.05:
        return 0
    index = 0
    for i, bound in enumerate(BUCKET_BOUNDS):
        if elapsed >= bound:
            index = i
    return index


def histogram_bucket(elapsed):
    return min(int(elapsed * 1e6).bit_length(), HISTOGRAM_BUCKETS - 1)


def histogram_bucket_bounds(index):
    """[low, high) of histogram bucket `index`, in seconds."""
    low = 0 if index == 0 else 2 ** (index - 1)
    return low / 1e6, (2**index) / 1e6


# -- never recorded ------------------------------------------------------------

# Whatever code logs, these never reach the database: values of secret-looking
# keys in query strings, form bodies, JSON and headers (cookies, Authorization,
# passwords, session ids, CSRF tokens).
SECRET_KEY_PATTERN = r"(?:password|passwd|pwd|secret|token|csrf\w*|csrfmiddlewaretoken|sessionid|session_?id|session|cookie|set-cookie|authorization|api_?key)"
SECRET_PATTERNS = (
    # "password": "x"  /  'token': 'x'
    re.compile(r"""(?i)(["']%s["']\s*:\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^,}\s]+)""" % SECRET_KEY_PATTERN),
    # password=x&...   csrftoken=x; ...
    re.compile(r"(?i)(\b%s\s*=\s*)([^&;,\s]+)" % SECRET_KEY_PATTERN),
    # Authorization: Bearer x  /  Cookie: a=b; c=d
    re.compile(r"(?i)(\b(?:authorization|cookie|set-cookie|proxy-authorization)\s*:\s*)(.+)"),
    # <Password>x</Password>
    re.compile(r"(?i)(<(%s)>)(.*?)(?=</\2>)" % SECRET_KEY_PATTERN),
)


def scrub(text):
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def summarize_payload(data, size=None):
    """`text, 23 chars: {"x": 1, "y": 2}` -- the kind, size and a short
    preview. `data` may be only the start of the payload, `size` its length."""
    size = len(data) if size is None else size
    if isinstance(data, str):
        preview = data[:PAYLOAD_PREVIEW]
        more = "…" if size > PAYLOAD_PREVIEW else ""
        return f"text, {size} chars: {preview!r}{more}"
    preview = bytes(data[: PAYLOAD_PREVIEW // 2]).hex()
    more = "…" if size > PAYLOAD_PREVIEW // 2 else ""
    return f"binary, {size} bytes: {preview}{more}"


PAYLOAD = object()  # marker format: the event's single argument is a message payload


def format_event(fmt, args):
    try:
        if fmt is PAYLOAD:
            text = summarize_payload(args[0])
        elif args:
            text = fmt % args
        else:
            text = str(fmt)
    except Exception as error:  # a bad format string must not lose the trace
        text = f"{fmt!r} % {args!r} ({error})"
    if len(text) > MAX_EVENT_TEXT:
        text = text[:MAX_EVENT_TEXT] + "…"
    return scrub(text)


# -- traces ----------------------------------------------------------------------


class _Timed:
    """What a trace and an event log share: finishing and elapsed time.
    (Empty __slots__: the subclasses declare the attributes.)"""

    __slots__ = ()

    def finish(self):
        if self.end is None:
            self.end = monotonic()
            self.recorder.active.discard(self)
            self.recorder.pending.append(self)

    @property
    def elapsed(self):
        return (self.end if self.end is not None else monotonic()) - self.start


class Trace(_Timed):
    """One request or message: a family, a title, timed events, an error flag."""

    __slots__ = ("family", "title", "start", "end", "events", "error", "discarded", "recorder")
    kind = "trace"

    def __init__(self, recorder, family, title):
        self.recorder = recorder
        self.family = family
        self.title = title
        self.start = monotonic()
        self.end = None
        self.events = []
        self.error = False
        self.discarded = 0
        recorder.active.add(self)

    def log(self, fmt, *args, sensitive=False):
        """Add an event; `fmt % args` is evaluated later, in the flusher."""
        events = self.events
        if len(events) >= MAX_EVENTS_PER_TRACE:
            self.discarded += 1
            events.pop()  # keep the first ones and the latest, as x/net/trace does
        events.append((monotonic(), fmt, args, sensitive, False))

    def payload(self, data):
        """Add an event summarising a message payload (formatted later)."""
        self.events.append((monotonic(), PAYLOAD, (data,), False, False))

    def errorf(self, fmt, *args, sensitive=False):
        self.error = True
        self.events.append((monotonic(), fmt, args, sensitive, True))

    def set_error(self):
        self.error = True

    def set_title(self, title):
        self.title = title


class EventLog(_Timed):
    """A long-lived object's log (x/net/trace's EventLog): printf/errorf/finish."""

    __slots__ = ("family", "title", "start", "end", "events", "errors", "last_error", "discarded",
                 "recorder", "messages_in", "messages_out", "accepted", "__weakref__")
    kind = "events"

    def __init__(self, recorder, family, title):
        self.recorder = recorder
        self.family = family
        self.title = title
        self.start = monotonic()
        self.end = None
        # A list, not a deque(maxlen): an idle connection's log stays small
        # (a deque costs ~600 bytes even with three events).
        self.events = []
        self.errors = 0
        self.last_error = None
        self.discarded = 0
        # Connection logs count messages (realtime.base.SocketConsumer) and
        # note the accept; other logs leave these alone.
        self.messages_in = 0
        self.messages_out = 0
        self.accepted = False
        recorder.active.add(self)

    @property
    def error(self):
        return self.errors > 0

    def printf(self, fmt, *args, sensitive=False):
        self._add((monotonic(), fmt, args, sensitive, False))

    def errorf(self, fmt, *args, sensitive=False):
        now = monotonic()
        self._add((now, fmt, args, sensitive, True))
        self.errors += 1
        self.last_error = now

    def _add(self, event):
        if len(self.events) >= MAX_EVENTS_PER_LOG:
            self.discarded += 1
            del self.events[0]  # keep the latest, as x/net/trace's event logs do
        self.events.append(event)


class NullTrace:
    """What `new` returns when tracing is off: every call does nothing."""

    __slots__ = ()
    kind = "null"
    error = False
    accepted = False
    messages_in = messages_out = 0

    def log(self, *args, **kwargs):
        pass

    printf = errorf = payload = set_title = log

    def set_error(self):
        pass

    def finish(self):
        pass

    def __setattr__(self, name, value):
        pass  # `log.messages_in += 1` on a null log is harmless


NULL_TRACE = NullTrace()


# -- the recorder ------------------------------------------------------------------


def wall_clock_offset():
    return time.time() - monotonic()


def to_datetime(epoch):
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def serialize_events(item, offset):
    """[[seconds since the item started, text, is_error, sensitive], ...]"""
    start = item.start
    rows = []
    for when, fmt, args, sensitive, is_error in list(item.events):
        rows.append([round(when - start, 6), format_event(fmt, args), is_error, sensitive])
    if item.discarded:
        rows.append([round(item.elapsed, 6), f"({item.discarded} events discarded)", False, False])
    return rows


def message_events(record):
    """The events of a received-message record: its payload, and what went
    wrong (or that it was throttled), if anything."""
    _, preview, size, start, end, note, is_error = record
    rows = [[0.0, scrub(summarize_payload(preview, size)), False, False]]
    if note:
        rows.append([round(end - start, 6), scrub(note[:MAX_EVENT_TEXT]), is_error, False])
    return rows


def select_survivors(items, keep):
    """Apply x/net/trace retention to `items` (newest first, each with
    .family, .bucket, .is_error): the first `keep` per (family, bucket) and the
    first `keep` errors per family survive. Returns the survivors."""
    per_bucket = collections.Counter()
    per_family_errors = collections.Counter()
    survivors = []
    for item in items:
        key = (item.family, item.bucket)
        kept = False
        if per_bucket[key] < keep:
            per_bucket[key] += 1
            kept = True
        if item.is_error and per_family_errors[item.family] < keep:
            per_family_errors[item.family] += 1
            kept = True
        if kept:
            survivors.append(item)
    return survivors


class Histogram:
    """count, sum, sum of squares and log-2 bucket counts of latencies."""

    __slots__ = ("count", "total", "total_sq", "buckets")

    def __init__(self):
        self.count = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.buckets = [0] * HISTOGRAM_BUCKETS

    def add(self, elapsed):
        self.count += 1
        self.total += elapsed
        self.total_sq += elapsed * elapsed
        micros = int(elapsed * 1e6).bit_length()
        self.buckets[micros if micros < HISTOGRAM_BUCKETS else HISTOGRAM_BUCKETS - 1] += 1

    def add_many(self, values):
        self.count += len(values)
        self.total += sum(values)
        self.total_sq += sum(map(operator.mul, values, values))
        buckets = self.buckets
        last = HISTOGRAM_BUCKETS - 1
        micros = map(int, map(MICROS_PER_SECOND.__mul__, values))
        for index, n in collections.Counter(map(int.bit_length, micros)).items():
            buckets[index if index < last else last] += n

    def merge(self, other):
        self.count += other.count
        self.total += other.total
        self.total_sq += other.total_sq
        for index, n in enumerate(other.buckets):
            self.buckets[index] += n


class Recorder:
    """The per-process buffer and its background writer."""

    def __init__(self, config):
        self.config = config
        self.active = set()
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
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        self.histograms = {}  # (family, minute) -> Histogram not yet written
        self.flush_lock = threading.Lock()
        self.thread = None
        self.stopping = threading.Event()
        self.last_purge = 0.0
        self.redis = None
        self.last_redis_warning = 0.0

    def record_message(self, title, data, started, note=None, failed=False, ended=None):
        """One received WebSocket message, on the loop: a subtraction, an
        array append and a small tuple in a ring. See message_recorder."""
        if ended is None:
            ended = monotonic()
        elapsed = ended - started
        self.message_times.append(elapsed)
        size = len(data)
        record = (title, data if size <= PAYLOAD_PREVIEW else data[:PAYLOAD_PREVIEW], size, started, ended,
                  note, failed)
        if note is None and elapsed < 0.05:
            self.recent_messages.append(record)
        else:
            self.notable_messages.append(record)

    # -- background thread --------------------------------------------------------

    def start(self):
        if self.thread is None:
            self.thread = threading.Thread(target=self.run, name="trace-writer", daemon=True)
            self.thread.start()
            atexit.register(self.stop)

    def run(self):
        from django.db import close_old_connections

        interval = self.config["flush_seconds"]
        while not self.stopping.wait(interval):
            try:
                self.flush()
            except Exception:
                logger.exception("writing traces failed; will retry")
            finally:
                # This thread's connection, as after a request: closed unless
                # CONN_MAX_AGE keeps it, and closed if broken.
                close_old_connections()

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
            now = time.time()
            if now - self.last_purge >= self.config["purge_seconds"]:
                self.last_purge = now
                from realtime.models import purge_traces

                purge_traces()
            if publish:
                self.publish_active(offset)
        return len(batch) + len(times)

    def write(self, batch, offset, times=(), messages=(), minute=None):
        """Count every trace in the histograms; write only those retention
        keeps (see the module docstring). One tight pass, newest first: at
        20,000 messages a second this loop is the writer's main cost."""
        from django.db import transaction

        from realtime.models import EventLogRecord, TraceRecord

        keep = self.config["keep"]
        histograms = self.histograms
        kept_per_bucket = {}
        kept_errors = {}
        # Received messages are nearly all of a busy second: they take the
        # bulk path; the rest (requests, connection logs) the loop below.
        trace_rows = self.message_rows(times, list(messages), offset, minute) if times or messages else []
        log_rows = []
        for item in reversed(batch):
            title, start, end, family, error = item.title, item.start, item.end, item.family, item.error
            is_trace = item.kind == "trace"
            elapsed = end - start
            bucket = 0 if elapsed < 0.05 else bucket_of(elapsed)
            if is_trace:
                key = (family, int((end + offset) // 60))
                histogram = histograms.get(key)
                if histogram is None:
                    histogram = histograms[key] = Histogram()
                histogram.add(elapsed)
            key = (is_trace, family, bucket)
            count = kept_per_bucket.get(key, 0)
            kept = count < keep
            if kept:
                kept_per_bucket[key] = count + 1
            if error:
                key = (is_trace, family)
                count = kept_errors.get(key, 0)
                if count < keep:
                    kept_errors[key] = count + 1
                    kept = True
            if not kept:
                continue
            common = dict(
                family=family[:100], title=title[:255], started_at=to_datetime(start + offset),
                elapsed=elapsed, bucket=bucket, is_error=bool(error), process=self.process,
                events=serialize_events(item, offset),
            )
            if is_trace:
                trace_rows.append(TraceRecord(**common))
            else:
                log_rows.append(EventLogRecord(
                    **common, finished_at=to_datetime(item.end + offset), error_count=item.errors,
                    last_error_at=to_datetime(item.last_error + offset) if item.last_error else None,
                    messages_in=item.messages_in, messages_out=item.messages_out,
                ))
        histograms, self.histograms = self.histograms, {}
        try:
            with transaction.atomic():
                TraceRecord.objects.bulk_create(trace_rows)
                EventLogRecord.objects.bulk_create(log_rows)
                self.write_histograms(histograms)
        except Exception:
            # Keep the counts for the next flush (the rows of this batch are lost).
            self.merge_back(histograms)
            raise

    def message_rows(self, times, messages, offset, minute):
        """Received messages: every latency into the histogram of `minute`
        (the flush's; a batch covers one flush period), and the TraceRecords
        retention keeps: the newest `keep` per latency bucket and the newest
        `keep` errors, from the records the loop kept."""
        from realtime.models import TraceRecord

        keep = self.config["keep"]
        if times:
            self.histograms.setdefault((RECEIVE_FAMILY, minute), Histogram()).add_many(times)
        messages.sort(key=ENDED)
        kept_per_bucket = {}
        kept_errors = 0
        rows = []
        for record in reversed(messages):
            elapsed = ENDED(record) - STARTED(record)
            bucket = bucket_of(elapsed)
            count = kept_per_bucket.get(bucket, 0)
            kept = count < keep
            if kept:
                kept_per_bucket[bucket] = count + 1
            if record[6] and kept_errors < keep:
                kept_errors += 1
                kept = True
            if kept:
                rows.append(TraceRecord(
                    family=RECEIVE_FAMILY, title=record[0][:255], started_at=to_datetime(STARTED(record) + offset),
                    elapsed=elapsed, bucket=bucket, is_error=bool(record[6]), process=self.process,
                    events=message_events(record),
                ))
        return rows

    def merge_back(self, histograms):
        for key, histogram in histograms.items():
            self.histograms.setdefault(key, Histogram()).merge(histogram)

    @staticmethod
    def write_histograms(histograms):
        """Add the counts to the per-minute rows and the all-time (minute 0) rows."""
        from realtime.models import LatencyHistogram

        combined = {}
        for (family, minute), histogram in histograms.items():
            for key in ((family, minute), (family, 0)):
                combined.setdefault(key, Histogram()).merge(histogram)
        for (family, minute), histogram in combined.items():
            row, _ = LatencyHistogram.objects.select_for_update().get_or_create(family=family[:100], minute=minute)
            row.count += histogram.count
            row.total += histogram.total
            row.total_sq += histogram.total_sq
            counts = {int(k): v for k, v in row.buckets.items()}
            for index, n in enumerate(histogram.buckets):
                if n:
                    counts[index] = counts.get(index, 0) + n
            row.buckets = {str(k): v for k, v in sorted(counts.items())}
            row.save()

    # -- active traces across processes ----------------------------------------------------

    def snapshot(self, offset=None, per_family=50):
        """The active traces of this process, as JSON-ready dicts (the newest
        `per_family` of each family in full, and a count of all)."""
        offset = wall_clock_offset() if offset is None else offset
        items = list(self.active)  # one C-level copy; safe against the loop thread
        counts = collections.Counter()
        by_family = collections.defaultdict(list)
        for item in items:
            counts[(item.kind, item.family)] += 1
            by_family[(item.kind, item.family)].append(item)
        details = []
        for key, group in by_family.items():
            group.sort(key=lambda item: item.start, reverse=True)
            for item in group[:per_family]:
                details.append({
                    "kind": item.kind, "family": item.family, "title": item.title,
                    "started": item.start + offset, "elapsed": round(item.elapsed, 6),
                    "error": bool(item.error), "process": self.process,
                    "last_error": (item.last_error + offset) if getattr(item, "last_error", None) else None,
                    "messages_in": getattr(item, "messages_in", 0), "messages_out": getattr(item, "messages_out", 0),
                    "events": serialize_events(item, offset)[-20:],
                })
        return {
            "process": self.process,
            "at": time.time(),
            "counts": [[kind, family, n] for (kind, family), n in counts.items()],
            "items": details,
        }

    def redis_client(self):
        from realtime import redis_connection

        if not redis_connection.configured():
            return None
        if self.redis is None:
            # REDIS_URL, the first shard, or the Sentinel-named master.
            self.redis = redis_connection.client(socket_timeout=2, socket_connect_timeout=2)
        return self.redis

    def active_key_prefix(self):
        from django.conf import settings

        return f"{settings.CHANNEL_LAYER_PREFIX}:tracing:active:"

    def publish_active(self, offset):
        client = self.redis_client()
        if client is None:
            return
        ttl = max(3, int(math.ceil(self.config["flush_seconds"] * 5)))
        try:
            client.set(self.active_key_prefix() + self.process, json.dumps(self.snapshot(offset)), ex=ttl)
        except Exception:
            if time.time() - self.last_redis_warning > 60:
                self.last_redis_warning = time.time()
                logger.warning("could not publish active traces to Redis", exc_info=True)

    def all_active(self):
        """Snapshots of every process: this one live, the others from Redis.
        Blocking (Redis): call from a thread, never on the event loop."""
        snapshots = [self.snapshot()]
        client = self.redis_client()
        if client is None:
            return snapshots
        try:
            keys = [key for key in client.scan_iter(match=self.active_key_prefix() + "*", count=500)
                    if key.decode() != self.active_key_prefix() + self.process]
            for raw in client.mget(keys) if keys else []:
                if raw:
                    snapshots.append(json.loads(raw))
        except Exception:
            logger.warning("could not read active traces from Redis", exc_info=True)
        return snapshots


# -- module API -------------------------------------------------------------------------

_recorder = None
_recorder_lock = threading.Lock()
# The test process sets this to False (tests/conftest.py): there the writer
# would store traces in pytest-django's test database behind the tests' backs;
# tracing tests call flush() themselves. Servers always start it.
AUTO_START_WRITER = True


def load_config():
    from django.conf import settings

    return {
        "enabled": getattr(settings, "REALTIME_TRACING", True),
        "keep": getattr(settings, "REALTIME_TRACE_KEEP", 10),
        "max_age": getattr(settings, "REALTIME_TRACE_MAX_AGE_SECONDS", 24 * 3600),
        "flush_seconds": getattr(settings, "REALTIME_TRACE_FLUSH_SECONDS", 1.0),
        "purge_seconds": getattr(settings, "REALTIME_TRACE_PURGE_SECONDS", 10.0),
        "buffer": getattr(settings, "REALTIME_TRACE_BUFFER", 100_000),
    }


def get_recorder():
    """This process's recorder (None when tracing is off); starts the writer."""
    global _recorder
    if _recorder is None:
        with _recorder_lock:
            if _recorder is None:
                config = load_config()
                _recorder = Recorder(config) if config["enabled"] else False
                if _recorder and AUTO_START_WRITER:
                    _recorder.start()
    return _recorder or None


def enabled():
    return get_recorder() is not None


def new(family, title):
    """Start a trace (x/net/trace's trace.New)."""
    recorder = _recorder if _recorder is not None else get_recorder()
    if not recorder:
        return NULL_TRACE
    return Trace(recorder, family, title)


def new_event_log(family, title):
    """Start an event log for a long-lived object (x/net/trace's NewEventLog)."""
    recorder = _recorder if _recorder is not None else get_recorder()
    if not recorder:
        return NULL_TRACE
    return EventLog(recorder, family, title)


def message_recorder():
    """The hot path's way to trace a received WebSocket message (one per
    message, tens of thousands a second): Recorder.record_message(title,
    payload, started, note=None, failed=False), or None when tracing is off.
    Much cheaper than a Trace: the latency goes into an array of doubles for
    the histogram, and a small tuple (the payload's first PAYLOAD_PREVIEW
    characters or bytes, never a whole large message) into a ring of the
    newest `keep` or, when slow, throttled or failed, into a queue; the
    writer makes the same "websocket.Receive" traces of them (payload
    summary, then the note). Nothing per message stays alive for long, which
    matters more than the instructions (memory churn is what a retained
    object per message costs). These are not listed as active: they are in
    flight for microseconds."""
    recorder = _recorder if _recorder is not None else get_recorder()
    return recorder.record_message if recorder else None


def flush():
    """Write everything finished so far, now, in the calling thread (tests,
    shutdown). Blocking: not for the event loop."""
    recorder = get_recorder()
    return recorder.flush() if recorder else 0
