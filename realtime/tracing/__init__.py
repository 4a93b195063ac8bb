"""Request tracing in the shape of Go's golang.org/x/net/trace.

    trace = tracing.new("websocket.Receive", "/ws/mouse")
    trace.log("decoded %d bytes", n)            # formatted later, off the loop
    trace.log("user %s", name, sensitive=True)  # shown as [redacted] to most viewers
    trace.set_error()
    trace.finish()

    log = tracing.new_event_log("websocket.Conn", "/ws/mouse 127.0.0.1:5000")
    log.printf("accepted"); log.errorf("closed with 1009"); log.finish()

Recording stays off the event loop: `new`, `log` and `finish` only append
tuples and move objects between in-memory collections; formatting,
scrubbing, histograms, retention and every database and Redis call happen in
one background thread per process. Retention is that of x/net/trace (the
last REALTIME_TRACE_KEEP traces per family and latency bucket, plus the
last errors per family) with a time limit.

This module is the public API; the parts, one concern each:
- `conf`: the REALTIME_TRACE_* settings and their defaults;
- `events`: Trace, EventLog, their events, the scrubbing of secrets;
- `histograms`: latency buckets and histograms;
- `recorder`: the per-process buffer and its writer thread;
- `writer`: a flush's batch into rows and histogram counts;
- `retention`: the one keep rule, and the purge of what is stored;
- `models`: the tables;
- `middleware`: ASGI middleware tracing every request and connection;
- `queries`, `views`, `urls`: the staff pages (/debug/requests, /debug/events);
- `live`, `routing`: the socket that keeps /debug/requests current;
- `admin`: the stored traces in the Django admin.

Importing this package imports no models: the server imports it before
Django is set up.
"""

import threading

from realtime.tracing.conf import load_config
from realtime.tracing.events import (
    CONNECTION_FAMILY,
    NULL_TRACE,
    RECEIVE_FAMILY,
    EventLog,
    NullTrace,
    Trace,
)
from realtime.tracing.histograms import BUCKET_BOUNDS, BUCKET_LABELS, HISTOGRAM_BUCKETS, bucket_of
from realtime.tracing.recorder import Recorder
from realtime.tracing.redaction import REDACTED, scrub

__all__ = [
    "AUTO_START_WRITER",
    "BUCKET_BOUNDS",
    "BUCKET_LABELS",
    "CONNECTION_FAMILY",
    "HISTOGRAM_BUCKETS",
    "NULL_TRACE",
    "RECEIVE_FAMILY",
    "REDACTED",
    "EventLog",
    "NullTrace",
    "Recorder",
    "Trace",
    "bucket_of",
    "enabled",
    "flush",
    "get_recorder",
    "load_config",
    "message_recorder",
    "new",
    "new_event_log",
    "scrub",
]

_recorder = None
_recorder_lock = threading.Lock()
# The test process sets this to False (tests/conftest.py): there the writer
# would store traces in pytest-django's test database behind the tests' backs;
# tracing tests call flush() themselves. Servers always start it.
AUTO_START_WRITER = True


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
    the histogram, and a small tuple (the payload's kind and size, and only
    with REALTIME_TRACE_PAYLOAD_PREVIEW its first characters or bytes,
    never a whole large message) into a ring of the
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
