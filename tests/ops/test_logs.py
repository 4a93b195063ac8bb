"""Logs of a real server process: LOG_FORMAT=json gives one JSON object per
line for every logger (daphne, django, realtime, the access log), with the
request path, socket path and client address where the line was written
while serving one; the default is plain text, each line once; a format
that does not exist stops the server with a clear message."""

import http.client
import json
import time

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect


def oversize_on_mouse(server):
    """A /ws/mouse message over the 64 KiB limit: the server logs (realtime
    logger) and closes with 1009. Returns the client's own address."""
    with connect(f"{server.ws_url}/ws/mouse", max_size=None) as ws:
        client = "{}:{}".format(*ws.local_address[:2])
        ws.send("x" * (64 * 1024 + 1))
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=5)
        assert ws.close_code == 1009
    return client


def missing_page(server):
    """GET /no-such-page: Django logs "Not Found" (django.request). Returns
    the client's own address."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.connect()
    client = "{}:{}".format(*connection.sock.getsockname()[:2])
    connection.request("GET", "/no-such-page")
    assert connection.getresponse().status == 404
    connection.close()
    return client


def wait_for_line(server, text, timeout=5.0):
    deadline = time.monotonic() + timeout
    while text not in server.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.output()


def test_json_logs_one_object_a_line_with_request_and_socket_context(daphne):
    server = daphne(LOG_FORMAT="json")
    http_client = missing_page(server)
    socket_client = oversize_on_mouse(server)
    output = wait_for_line(server, "WebSocket disconnected /ws/mouse")

    lines = [line for line in output.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line is not JSON: {line!r}")
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert record["time"].endswith("Z") and "T" in record["time"]
    loggers = {record["logger"] for record in records}
    expected = {"daphne.cli", "daphne.server", "django.request", "daphne.access", "realtime.consumer_kit.consumer"}
    assert expected <= loggers, loggers

    not_found = next(r for r in records if r["logger"] == "django.request")
    assert not_found["level"] == "WARNING"
    assert not_found["message"] == "Not Found: /no-such-page"
    assert not_found["request_path"] == "/no-such-page"
    assert not_found["client"] == http_client
    assert not_found["status"] == 404

    closing = next(r for r in records if r["message"].startswith("closing /ws/mouse with 1009"))
    assert closing["level"] == "INFO"
    assert closing["socket_path"] == "/ws/mouse"
    assert closing["client"] == socket_client
    assert "request_path" not in closing

    access = [r for r in records if r["logger"] == "daphne.access"]
    assert any(r.get("request_path") == "/no-such-page" and r.get("status") == 404 for r in access), access
    assert any(r.get("socket_path") == "/ws/mouse" and r["message"] == "WebSocket connected /ws/mouse" for r in access)
    # Startup lines know no request: no context fields on them.
    started = next(r for r in records if r["logger"] == "daphne.cli")
    assert not {"request_path", "socket_path", "client"} & set(started)


def test_text_logs_by_default_each_line_once(daphne):
    server = daphne()
    oversize_on_mouse(server)
    output = wait_for_line(server, "closing /ws/mouse with 1009")
    lines = [line for line in output.splitlines() if "closing /ws/mouse with 1009" in line]
    # realtime propagates to the root handler only: one line, not two.
    assert len(lines) == 1, output
    assert " INFO realtime.consumer_kit.consumer closing /ws/mouse with 1009" in lines[0]
    assert not lines[0].startswith("{")


def test_an_unknown_log_format_stops_the_server_with_a_clear_message(daphne):
    # Tried: LOG_FORMAT=xml.
    with pytest.raises(RuntimeError) as failed:
        daphne(LOG_FORMAT="xml")
    assert "LOG_FORMAT must be one of text, json, not 'xml'" in str(failed.value)
