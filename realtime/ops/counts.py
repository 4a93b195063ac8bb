"""The server's own event counts, in plain ints, and the catalogue of them.

Code that sees an event (a refused handshake, a chat post, a Redis error)
calls `SOMETHING.inc(label, ...)`: a dict update under an uncontended lock,
no third-party import. prometheus-client is imported only when the metrics
endpoint is on (realtime.ops.metrics), and reads these at scrape time. The
per-message figures (messages and bytes in and out, open sockets) are not
counted here at all: the server already keeps them per connection, and
realtime.ops.socket_stats sums them when Prometheus asks.

The lock: most counts change on the event loop, but some in worker threads
(the admin, the trace writer, health checks); `d[k] = d.get(k) + 1` is not
atomic across threads, and the lock costs ~0.1 µs on events that happen at
most once per connection or per request.
"""

import threading

CATALOGUE = []  # every count and level below, in the order they are exposed


class EventCount:
    """A monotonic count per combination of label values (a Prometheus
    counter; the exposed name gets `_total`)."""

    kind = "counter"

    def __init__(self, name, documentation, labels=()):
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        self.values = {}
        self.lock = threading.Lock()
        CATALOGUE.append(self)

    def inc(self, *label_values, amount=1):
        if len(label_values) != len(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {label_values}")
        with self.lock:
            self.values[label_values] = self.values.get(label_values, 0) + amount

    def samples(self):
        """[(label values, value), ...]: a copy, safe to read in any thread."""
        with self.lock:
            return list(self.values.items())


class Level(EventCount):
    """A value that goes up and down, set by the code that knows it (a
    Prometheus gauge)."""

    kind = "gauge"

    def set(self, value, *label_values):
        with self.lock:
            self.values[label_values] = value


class ScrapeLevel:
    """A gauge computed when Prometheus asks, by `function()` (a number, or
    None when there is nothing to say). Registered by the code that owns the
    figure, with `watch`."""

    kind = "gauge"
    labels = ()

    def __init__(self, name, documentation):
        self.name = name
        self.documentation = documentation
        self.function = None
        CATALOGUE.append(self)

    def watch(self, function):
        self.function = function

    def samples(self):
        value = self.function() if self.function is not None else None
        return [] if value is None else [((), value)]


# -- WebSocket handshakes and closes -------------------------------------------

ACCEPTED = EventCount("realtime_websocket_accepted", "WebSocket handshakes accepted, by route.", ("route",))
REFUSED = EventCount(
    "realtime_websocket_refused",
    "WebSocket handshakes refused, by route and reason (origin, unknown_path, auth, other).",
    ("route", "reason"),
)
CLOSES = EventCount(
    "realtime_websocket_closes",
    "WebSocket connections ended, by route, close code (1006: no close frame, the TCP connection "
    "just ended; codes outside RFC 6455's by range: 3xxx, 4xxx, other) and which side closed "
    "first (server, client, none).",
    ("route", "code", "initiator"),
)
SLOW_CLIENT_CLOSES = EventCount(
    "realtime_websocket_slow_client_closes",
    "Sockets closed with 1008 because their client stopped reading (send buffer full).",
    ("route",),
)
KEEPALIVE_DROPS = EventCount(
    "realtime_websocket_keepalive_drops",
    "Sockets dropped (TCP aborted, no close frame: counted as 1006 in the closes) because nothing came "
    "from their client, not even the pong, for the whole --ping-timeout after a keepalive ping; "
    "ping: acknowledged (the client's TCP took the ping and all before it: its program did not answer) "
    "or unacknowledged (the client stopped reading, or could not be reached).",
    ("route", "ping"),
)
READ_PAUSES = EventCount(
    "realtime_websocket_read_pauses",
    "Times the server stopped reading a socket because the application had too many of its "
    "messages waiting (input back-pressure).",
    ("route",),
)
THROTTLED = EventCount(
    "realtime_websocket_throttled_messages", "Received messages delayed by the per-socket flood limit.", ("route",)
)

# -- time push --------------------------------------------------------------------

TICK_PUBLISHER = Level("realtime_tick_publisher", "1 while this process holds the tick publisher lease, else 0.")
TICK_LAG = Level(
    "realtime_tick_lag_seconds", "How late the last tick this process published left, after its second began."
)
TICKS = EventCount("realtime_ticks_published", "Ticks this process published.")

# -- channel layer and Redis ------------------------------------------------------

CHANNEL_LAYER_ERRORS = EventCount(
    "realtime_channel_layer_errors",
    "Channel-layer operations that failed, by operation (receive, group_add, group_discard, publish, new_channel; "
    "lost: group messages may have been lost, realtime/consumer_kit/layer_watch.py).",
    ("operation",),
)
REDIS_ERRORS = EventCount(
    "realtime_redis_errors",
    "Direct Redis calls that failed, by operation (tick_lease, trace_publish, trace_read).",
    ("operation",),
)

# -- chat ---------------------------------------------------------------------------

CHAT_CHANGES = EventCount(
    "realtime_chat_changes",
    "Chat messages stored, by action (post, edit, delete, hide) and where it came from (socket, admin).",
    ("action", "via"),
)

# -- tracing --------------------------------------------------------------------------

TRACE_QUEUE = ScrapeLevel("realtime_trace_queue_length", "Finished traces waiting for the trace writer.")
TRACE_DROPS = EventCount("realtime_trace_dropped", "Finished traces dropped because the writer's queue was full.")


# -- events that take more than one count --------------------------------------------


def tick_publisher(held):
    TICK_PUBLISHER.set(1 if held else 0)


def tick_published(lag_seconds):
    TICKS.inc()
    TICK_LAG.set(lag_seconds)
