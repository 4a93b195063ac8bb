"""OpenTelemetry export of the project's own traces, when
OTEL_EXPORTER_OTLP_ENDPOINT is set (the SDK's standard variable; OTLP over
HTTP). Off, nothing of OpenTelemetry is imported and the trace writer's
hook (`export`) returns at its first line.

Nothing new is measured: the spans are the traces realtime.tracing already
records, made in its writer thread from each flush's batch, so the event
loop does no OpenTelemetry work at all:

- an HTTP request trace becomes a SERVER span "GET /chat/<room>/" (method
  and Django route; url.path, the status code), its events span events;
- a WebSocket connection's event log becomes a SERVER span
  "WebSocket /ws/chat/<room>/" from handshake to close (connect, accept or
  refusal and why, close code, message counts), its events span events;
- received messages are not a span each: of each flush's messages (the
  tracer keeps the newest few and every slow, throttled or failed one) at
  most REALTIME_OTEL_MESSAGES_PER_FLUSH become "WebSocket message" spans,
  failed ones first, then slow or throttled, then the newest (0: none);
- other traces (slow-client closes, ...) become spans named by family.

Events marked sensitive are exported as "[redacted]", like the staff pages
show them to non-superusers. The SDK's BatchSpanProcessor sends from its
own thread. Resource: service.name from OTEL_SERVICE_NAME (default
"realtime"), service.instance.id the process (host:pid), plus
OTEL_RESOURCE_ATTRIBUTES.
"""

import logging
import os
import re

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"
STATUS_EVENT = re.compile(r"^status (\d{3})$")  # what the tracing middleware logs for a response

_spans = None  # the SpanExport once configured


def configure_from_settings(process):
    """Called once per server process (realtime.ops.process): build the OTLP
    exporter when the endpoint is set. Before the trace writer starts, so the
    SDK's exit handler runs after the writer's last flush (atexit runs in
    reverse order) and that flush's spans still leave."""
    from realtime.server.conf import setting

    if not setting("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return configure(
        BatchSpanProcessor(OTLPSpanExporter()),
        process,
        setting("REALTIME_OTEL_MESSAGES_PER_FLUSH"),
        setting("REALTIME_OTEL_CLIENT_ADDRESS"),
    )


def configure(processor, process, messages_per_flush=10, client_address=False):
    """Export through `processor` (an SDK SpanProcessor; the tests give a
    SimpleSpanProcessor over the SDK's InMemorySpanExporter). With
    `client_address` off, no span says who the client was (CLIENT_ADDRESS)."""
    global _spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or "realtime",
            "service.instance.id": process,
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    _spans = SpanExport(provider, messages_per_flush, client_address)
    logger.info("exporting traces to OpenTelemetry (%d message spans a flush at most)", messages_per_flush)
    return _spans


def unconfigure():
    global _spans
    spans, _spans = _spans, None
    if spans is not None:
        spans.provider.shutdown()


def export(batch, messages, offset):
    """The trace writer's hook, once per flush, in its thread: `batch` the
    finished traces and event logs, `messages` the received-message records,
    `offset` wall clock minus monotonic clock."""
    spans = _spans
    if spans is None:
        return
    try:
        spans.export(batch, messages, offset)
    except Exception:  # a broken exporter must not stop the traces being written
        logger.warning("OpenTelemetry export failed", exc_info=True)


# A client's address as the tracer writes it ("from 10.0.0.7:51234", a
# socket's title): IPv4, or IPv6 (compressed with "::", or all 8 groups),
# with a port or not. Replaced in everything a span carries unless
# REALTIME_OTEL_CLIENT_ADDRESS is on: an address is personal data, and a
# tracing backend is often kept longer and seen by more people than logs.
CLIENT_ADDRESS = re.compile(
    r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"
    r"|\[?[0-9A-Fa-f:]*::[0-9A-Fa-f:.]*\]?(?::\d+)?"
    r"|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?::\d+)?\b"
)
CLIENT = "[client]"


class SpanExport:
    def __init__(self, provider, messages_per_flush, client_address=False):
        from opentelemetry import context, trace

        self.provider = provider
        self.tracer = provider.get_tracer("realtime.tracing")
        self.kind_server = trace.SpanKind.SERVER
        self.status_error = trace.Status(trace.StatusCode.ERROR)
        self.root = context.Context()  # every span is a root: no ambient parent
        self.messages_per_flush = messages_per_flush
        self.client_address = client_address

    def without_client(self, text):
        return text if self.client_address else CLIENT_ADDRESS.sub(CLIENT, text)

    def export(self, batch, messages, offset):
        from realtime.tracing.events import CONNECTION_FAMILY

        for item in batch:
            if item.kind == "events":
                if item.family == CONNECTION_FAMILY:
                    self.connection_span(item, offset)
                else:
                    self.generic_span(item, offset)
            elif item.family.startswith("http."):
                self.http_span(item, offset)
            else:
                self.generic_span(item, offset)
        for record in self.sample(messages):
            self.message_span(record, offset)

    # -- one span per kind of trace ---------------------------------------------

    def http_span(self, item, offset):
        method, _, route = item.family[len("http.") :].partition(" ")
        attributes = {"http.request.method": method, "http.route": route, "url.path": item.title}
        for _, text, _, sensitive in self.events_of(item, offset):
            found = STATUS_EVENT.match(text)
            if found and not sensitive:
                attributes["http.response.status_code"] = int(found.group(1))
        self.span(f"{method} {route}", item, offset, attributes)

    def connection_span(self, item, offset):
        from realtime.ops.socket_stats import route_of

        path, _, client = item.title.partition(" ")
        route = route_of(path.encode("ascii", "replace"))
        attributes = {
            "url.path": path,
            "http.route": route,
            "network.protocol.name": "websocket",
            "realtime.messages_in": item.messages_in,
            "realtime.messages_out": item.messages_out,
            "realtime.errors": item.errors,
        }
        host, _, port = client.rpartition(":")
        if self.client_address and host and port.isdigit():
            attributes["client.address"], attributes["client.port"] = host, int(port)
        self.span(f"WebSocket {route}", item, offset, attributes)

    def generic_span(self, item, offset):
        self.span(item.family, item, offset, {"realtime.title": self.without_client(item.title)})

    def span(self, name, item, offset, attributes):
        attributes["realtime.family"] = item.family
        span = self.tracer.start_span(
            name,
            context=self.root,
            kind=self.kind_server,
            start_time=nanoseconds(item.start + offset),
            attributes=attributes,
        )
        for when, text, is_error, _ in self.events_of(item, offset):
            span.add_event(text, {"realtime.error": True} if is_error else None, timestamp=nanoseconds(when))
        if item.error:
            span.set_status(self.status_error)
        span.end(end_time=nanoseconds(item.end + offset))

    def events_of(self, item, offset):
        """(wall-clock time, text, is_error, sensitive) of each event, the text
        formatted and scrubbed by the tracer itself (and without the client's
        address, see CLIENT_ADDRESS)."""
        from realtime.tracing.events import serialize_events

        start = item.start + offset
        return [
            (start + seconds, REDACTED if sensitive else self.without_client(text), is_error, sensitive)
            for seconds, text, is_error, sensitive in serialize_events(item, offset)
        ]

    # -- received messages: a few sampled spans, never one each -------------------

    def sample(self, messages):
        if self.messages_per_flush <= 0 or not messages:
            return []
        # failed first, then slow or throttled (a note), then the newest
        ranked = sorted(messages, key=lambda record: (not record[6], record[5] is None, -record[4]))
        return ranked[: self.messages_per_flush]

    def message_span(self, record, offset):
        from realtime.ops.socket_stats import route_of
        from realtime.tracing.events import message_events

        path, _, size, started, ended, _, failed = record
        route = route_of(path.encode("ascii", "replace"))
        span = self.tracer.start_span(
            "WebSocket message",
            context=self.root,
            kind=self.kind_server,
            start_time=nanoseconds(started + offset),
            attributes={
                "url.path": path,
                "http.route": route,
                "messaging.message.body.size": size,
                "realtime.family": "websocket.Receive",
            },
        )
        for seconds, text, is_error, sensitive in message_events(record):
            # A message preview (REALTIME_TRACE_PAYLOAD_PREVIEW) is sensitive.
            span.add_event(
                REDACTED if sensitive else text,
                {"realtime.error": True} if is_error else None,
                timestamp=nanoseconds(started + offset + seconds),
            )
        if failed:
            span.set_status(self.status_error)
        span.end(end_time=nanoseconds(ended + offset))


def nanoseconds(epoch_seconds):
    return int(epoch_seconds * 1e9)
