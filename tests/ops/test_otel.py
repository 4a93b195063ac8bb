"""OpenTelemetry export of the project's traces.

1. In this process, through the whole ASGI application (config.asgi) and the
   tracer's own flush, into the SDK's InMemorySpanExporter: an HTTP request
   and WebSocket connections become one span each with their events; of 30
   received messages only a few become spans (a failed one first); a
   refused handshake is an error span saying why; sensitive events are
   redacted.
2. A real server process with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a
   small OTLP/HTTP listener in this test: the spans arrive as the protocol
   sends them (protobuf, parsed with opentelemetry-proto).
3. Off by default: a server process that is not asked for it imports none
   of OpenTelemetry, Sentry or prometheus-client.
"""

import gzip
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator, WebsocketCommunicator
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from websockets.sync.client import connect

from realtime import tracing
from realtime.ops import otel
from tests.support.paths import PYTHON, ROOT

MESSAGE_SPANS = 4


@pytest.fixture
def exported():
    exporter = InMemorySpanExporter()
    otel.configure(SimpleSpanProcessor(exporter), "test-host:1", messages_per_flush=MESSAGE_SPANS)
    yield exporter
    otel.unconfigure()


def spans_named(exporter, name):
    return [span for span in exporter.get_finished_spans() if span.name == name]


@pytest.mark.django_db(transaction=True)
async def test_requests_and_sockets_become_spans_and_messages_only_a_few(exported):
    from config.asgi import application

    recorder = tracing.get_recorder()
    await sync_to_async(recorder.flush)(publish=False)  # what earlier tests left
    exported.clear()
    started = time.time()

    http = HttpCommunicator(application, "GET", "/healthz", headers=[(b"host", b"127.0.0.1")])
    response = await http.get_response()
    assert response["status"] == 200

    echo = WebsocketCommunicator(application, "/ws/echo")
    assert (await echo.connect())[0]
    for i in range(30):
        await echo.send_to(text_data=f"message {i}")
        assert await echo.receive_from() == f"message {i}"
    await echo.disconnect()

    mouse = WebsocketCommunicator(application, "/ws/mouse")
    assert (await mouse.connect())[0]
    await mouse.send_to(text_data="not json")
    assert "error" in await mouse.receive_from()
    await mouse.disconnect()

    foreign = WebsocketCommunicator(application, "/ws/echo", headers=[(b"origin", b"https://evil.example")])
    assert not (await foreign.connect())[0]
    await foreign.wait()  # until the application (and its trace) has finished

    await sync_to_async(recorder.flush)(publish=False)
    ended = time.time()

    # The HTTP request: one SERVER span named by method and route.
    (request,) = spans_named(exported, "GET /healthz")
    assert request.kind == SpanKind.SERVER
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["url.path"] == "/healthz"
    assert request.resource.attributes["service.name"] == "realtime"
    assert request.resource.attributes["service.instance.id"] == "test-host:1"
    assert started * 1e9 <= request.start_time <= request.end_time <= ended * 1e9
    assert [event.name for event in request.events][-1] == "status 200"

    # The echo connection: one span from handshake to close, with its log.
    (connection,) = spans_named(exported, "WebSocket /ws/echo")[:1]
    assert connection.attributes["realtime.messages_in"] == 30
    assert connection.attributes["realtime.messages_out"] == 30
    assert any(event.name.startswith("accepted") for event in connection.events)
    assert connection.status.status_code != StatusCode.ERROR

    # 31 received messages in this flush; a few spans, the failed one first.
    messages = spans_named(exported, "WebSocket message")
    assert 1 <= len(messages) <= MESSAGE_SPANS
    failed = [span for span in messages if span.status.status_code == StatusCode.ERROR]
    assert len(failed) == 1 and failed[0].attributes["url.path"] == "/ws/mouse"
    assert any("decode error" in event.name for event in failed[0].events)

    # The refused handshake: an error span that says why.
    refused = [
        span for span in spans_named(exported, "WebSocket /ws/echo") if span.status.status_code == StatusCode.ERROR
    ]
    assert len(refused) == 1
    assert any("Origin https://evil.example is not an allowed origin" in event.name for event in refused[0].events)


@pytest.mark.django_db(transaction=True)
def test_sensitive_events_are_redacted_and_secrets_scrubbed(exported):
    recorder = tracing.get_recorder()
    trace = tracing.new("job.Login", "/accounts/login/")
    trace.log("user %s", "alice", sensitive=True)
    trace.log("form password=hunter2&next=/")
    trace.finish()
    recorder.flush(publish=False)
    (span,) = spans_named(exported, "job.Login")
    assert [event.name for event in span.events] == ["[redacted]", "form password=[redacted]&next=/"]


class OtlpListener:
    """Accepts OTLP/HTTP trace exports (POST /v1/traces, protobuf)."""

    def __init__(self):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.spans = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            listener.spans.append((self.path, resource, span))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [item for item in list(self.spans) if predicate(item[2])]
            if found:
                return found
            time.sleep(0.1)
        return []


def test_a_server_exports_over_otlp_when_the_endpoint_is_set(daphne):
    listener = OtlpListener()
    try:
        server = daphne(
            OTEL_EXPORTER_OTLP_ENDPOINT=listener.endpoint,
            OTEL_SERVICE_NAME="realtime-test",
            OTEL_BSP_SCHEDULE_DELAY="200",
            REALTIME_TRACE_FLUSH_SECONDS="0.2",
        )
        # Tried: a page request and an echo socket with 3 messages.
        with urllib.request.urlopen(f"{server.http_url}/healthz", timeout=5) as response:
            assert response.status == 200
        with connect(f"{server.ws_url}/ws/echo") as ws:
            for text in ("a", "b", "c"):
                ws.send(text)
                assert ws.recv(timeout=5) == text

        http = listener.wait_for(lambda span: span.name == "GET /healthz")
        assert http, f"no span for the request; got {[s.name for _, _, s in listener.spans]}"
        path, resource, span = http[0]
        assert path == "/v1/traces"
        assert resource["service.name"] == "realtime-test"
        assert span.kind == span.SPAN_KIND_SERVER
        attributes = {a.key: a.value for a in span.attributes}
        assert attributes["http.response.status_code"].int_value == 200
        socket_spans = listener.wait_for(lambda span: span.name == "WebSocket /ws/echo")
        assert socket_spans
        attributes = {a.key: a.value for a in socket_spans[0][2].attributes}
        assert attributes["realtime.messages_in"].int_value == 3
    finally:
        listener.server.shutdown()
        listener.server.server_close()


def test_nothing_of_opentelemetry_sentry_or_prometheus_is_loaded_unless_asked():
    """Tried: the server's modules and the whole ASGI application imported
    as `python -m realtime.server` does, with none of the variables set."""
    probe = (
        "import sys, django; django.setup(); import config.asgi, realtime.server.server, realtime.tracing; "
        "from realtime.ops import process; process.start_for_operators(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'opentelemetry', 'sentry_sdk', 'prometheus_client'}))"
    )
    clean = {
        key: value
        for key, value in __import__("os").environ.items()
        if not key.startswith(("OTEL_", "SENTRY_", "REALTIME_METRICS"))
    }
    result = subprocess.run(
        [PYTHON, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def client_in_spans(spans, address):
    """Where a span carries `address`: attribute keys and event names."""
    found = []
    for _, _, span in spans:
        for attribute in span.attributes:
            if attribute.key.startswith("client.") or address in str(attribute.value):
                found.append(attribute.key)
        found += [event.name for event in span.events if address in event.name]
    return found


@pytest.mark.parametrize("exported_address", [False, True])
def test_the_client_address_is_exported_only_when_asked(daphne, exported_address):
    """Tried: a page request and an echo socket from 127.0.0.1, on a server
    exporting over OTLP with REALTIME_OTEL_CLIENT_ADDRESS off (the default)
    and on. Off: no span attribute or event names the client's address or
    port ("[client]" in its place). On: the socket span has client.address
    and client.port."""
    listener = OtlpListener()
    try:
        env = {"REALTIME_OTEL_CLIENT_ADDRESS": "1"} if exported_address else {}
        server = daphne(
            OTEL_EXPORTER_OTLP_ENDPOINT=listener.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="200",
            REALTIME_TRACE_FLUSH_SECONDS="0.2",
            **env,
        )
        with urllib.request.urlopen(f"{server.http_url}/healthz", timeout=5) as response:
            assert response.status == 200
        with connect(f"{server.ws_url}/ws/echo") as ws:
            client_port = ws.local_address[1]
            ws.send("a")
            assert ws.recv(timeout=5) == "a"
        sockets = listener.wait_for(lambda span: span.name == "WebSocket /ws/echo")
        requests = listener.wait_for(lambda span: span.name == "GET /healthz")
        assert sockets and requests, [s.name for _, _, s in listener.spans]
        attributes = {a.key: a.value for a in sockets[0][2].attributes}
        if exported_address:
            assert attributes["client.address"].string_value == "127.0.0.1"
            assert attributes["client.port"].int_value == client_port
        else:
            leaked = client_in_spans(listener.spans, "127.0.0.1")
            assert not leaked, f"the client's address reached the tracing backend: {leaked}"
            assert any("[client]" in event.name for event in sockets[0][2].events)
    finally:
        listener.server.shutdown()
        listener.server.server_close()
