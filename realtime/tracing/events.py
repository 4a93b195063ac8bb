"""What is recorded: traces and event logs (x/net/trace's Trace and
EventLog) and their events; what is never recorded is redaction.py's.

Recording is cheap on purpose: `log`, `printf`, `errorf` and `finish` only
append tuples and move the object between the recorder's active set and its
queue of finished items; formatting and scrubbing happen later, in the
writer thread (`serialize_events`, `message_events`).
"""

import time

from realtime.ops import counts
from realtime.tracing.redaction import note_without_client_text, scrub

monotonic = time.monotonic

RECEIVE_FAMILY = "websocket.Receive"
CONNECTION_FAMILY = "websocket.Conn"

MAX_EVENTS_PER_TRACE = 30  # x/net/trace keeps 10; a few more help with HTTP
MAX_EVENTS_PER_LOG = 100  # as x/net/trace's event logs
MAX_EVENT_TEXT = 300


def summarize_payload(data, size=None):
    """`text, 23 chars` or `binary, 4 bytes`: what is kept of a message by
    default (its content may be anything a user typed)."""
    size = len(data) if size is None else size
    return f"text, {size} chars" if isinstance(data, str) else f"binary, {size} bytes"


def preview_payload(data, size=None):
    """`preview: '{"x": 1, "y": 2}'`: the start of a message, kept only
    with REALTIME_TRACE_PAYLOAD_PREVIEW set (`data` is already cut to it)
    and logged as sensitive. `size` is the whole message's length."""
    size = len(data) if size is None else size
    more = "…" if size > len(data) else ""
    if isinstance(data, str):
        return f"preview: {data!r}{more}"
    return f"preview: {bytes(data).hex()}{more}"


PAYLOAD = object()  # marker format: the event's single argument is a message payload
PREVIEW = object()  # marker format: (the start of a payload, its whole size)


def format_event(fmt, args):
    try:
        if fmt is PAYLOAD:
            text = summarize_payload(args[0])
        elif fmt is PREVIEW:
            text = preview_payload(*args)
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
            recorder = self.recorder
            recorder.untrack(self)
            pending = recorder.pending
            if len(pending) == pending.maxlen:
                counts.TRACE_DROPS.inc()  # the append drops the oldest unwritten trace
            pending.append(self)

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
        recorder.track(self)

    def log(self, fmt, *args, sensitive=False):
        """Add an event; `fmt % args` is evaluated later, in the flusher."""
        events = self.events
        if len(events) >= MAX_EVENTS_PER_TRACE:
            self.discarded += 1
            events.pop()  # keep the first ones and the latest, as x/net/trace does
        events.append((monotonic(), fmt, args, sensitive, False))

    def payload(self, data):
        """Add an event with a message payload's kind and size, and with
        REALTIME_TRACE_PAYLOAD_PREVIEW set, a sensitive one with its start
        (formatted later)."""
        now = monotonic()
        self.events.append((now, PAYLOAD, (data,), False, False))
        preview = self.recorder.config["payload_preview"]
        if preview > 0:
            self.events.append((now, PREVIEW, (data[:preview], len(data)), True, False))

    def errorf(self, fmt, *args, sensitive=False):
        self.error = True
        self.events.append((monotonic(), fmt, args, sensitive, True))

    def set_error(self):
        self.error = True

    def set_title(self, title):
        self.title = title


class EventLog(_Timed):
    """A long-lived object's log (x/net/trace's EventLog): printf/errorf/finish."""

    __slots__ = (
        "family",
        "title",
        "start",
        "end",
        "events",
        "errors",
        "last_error",
        "discarded",
        "recorder",
        "messages_in",
        "messages_out",
        "accepted",
        "__weakref__",
    )
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
        # Connection logs count messages (realtime.consumer_kit.consumer) and
        # note the accept; other logs leave these alone.
        self.messages_in = 0
        self.messages_out = 0
        self.accepted = False
        recorder.track(self)

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


# -- formatting, in the writer thread ---------------------------------------------


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
    """The events of a received-message record: its payload's kind and size
    (and its start, as a sensitive event, when the recorder kept one: see
    REALTIME_TRACE_PAYLOAD_PREVIEW), and what went wrong (or that it was
    throttled), if anything."""
    _, preview, size, start, end, note, is_error = record
    rows = [[0.0, summarize_payload(preview, size), False, False]]
    if preview:
        rows.append([0.0, scrub(preview_payload(preview, size)[:MAX_EVENT_TEXT]), False, True])
    if note:
        rows.append([round(end - start, 6), scrub(note_without_client_text(note)[:MAX_EVENT_TEXT]), is_error, False])
    return rows
