"""Sentry reporting from a real server process: SENTRY_DSN points at a
small HTTP listener in this test, which receives what sentry-sdk sends
(envelopes, as a Sentry server would) and keeps the error events.

The errors are real ones, not a route that exists to fail: the server runs
on a database that was never migrated (an empty SQLite file), so the chat
page's view and the chat socket's consumer both raise OperationalError
("no such table") when they look their room up, as they would on a
production database that lost its tables. Nothing in the application
catches that error, so it is exactly the unhandled kind Sentry is for.
"""

import gzip
import json
import os
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.chat import seed_messages
from tests.support.paths import PYTHON, ROOT


class SentryListener:
    """Accepts POST /api/<project>/envelope/ and keeps every event item."""

    def __init__(self):
        self.events = []
        self.requests = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                listener.requests.append(self.path)
                listener.events.extend(parse_envelope(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def dsn(self):
        return f"http://publickey@127.0.0.1:{self.port}/42"

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [event for event in list(self.events) if predicate(event)]
            if found:
                return found
            time.sleep(0.1)
        return []

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def parse_envelope(body):
    """The event items of a Sentry envelope: a header line, then for each
    item a header line and its payload (`length` bytes, or one line)."""
    events = []
    position = body.index(b"\n") + 1  # the envelope header
    while position < len(body):
        end = body.find(b"\n", position)
        end = len(body) if end == -1 else end
        header_line = body[position:end].strip()
        position = end + 1
        if not header_line:
            continue
        header = json.loads(header_line)
        if "length" in header:
            payload = body[position : position + header["length"]]
            position += header["length"] + 1
        else:
            end = body.find(b"\n", position)
            end = len(body) if end == -1 else end
            payload = body[position:end]
            position = end + 1
        if header.get("type") == "event":
            events.append(json.loads(payload))
    return events


def exception_types(event):
    return [value.get("type") for value in event.get("exception", {}).get("values", [])]


@pytest.fixture
def sentry():
    listener = SentryListener()
    yield listener
    listener.close()


def test_unhandled_errors_in_a_view_and_a_consumer_reach_sentry(daphne, sentry, tmp_path):
    empty_database = tmp_path / "never-migrated.sqlite3"
    server = daphne(
        SENTRY_DSN=sentry.dsn(),
        DATABASE_URL=f"sqlite:///{empty_database}",
        REALTIME_TRACING="0",
        SENTRY_ENVIRONMENT="ops-test",
    )

    # Tried: the chat page (a Django view) for a visitor with a session
    # cookie: looking the session up raises.
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(
            urllib.request.Request(f"{server.http_url}/chat/lobby/", headers={"Cookie": "sessionid=" + "a" * 32}),
            timeout=10,
        )
    assert failed.value.code == 500
    from_view = sentry.wait_for(
        lambda e: (
            "OperationalError" in exception_types(e)
            and "/chat/lobby/" in e.get("request", {}).get("url", "")
            and not e["request"]["url"].startswith("ws")
        )
    )
    assert from_view, f"no event for the view's error; received {sentry.events}"
    event = from_view[0]
    assert event["environment"] == "ops-test"
    assert "no such table" in event["exception"]["values"][-1]["value"]
    assert sentry.requests[0] == "/api/42/envelope/"

    # Tried: the chat socket (a Channels consumer): its connect raises, so the
    # handshake fails and the client is refused.
    with pytest.raises(InvalidStatus) as refused:
        with connect(f"{server.ws_url}/ws/chat/lobby/", open_timeout=10) as ws:
            ws.recv(timeout=5)
    assert refused.value.response.status_code == 500
    from_consumer = sentry.wait_for(
        lambda e: (
            "OperationalError" in exception_types(e)
            and e.get("request", {}).get("url", "").startswith("ws://")
            and "/ws/chat/lobby/" in e["request"]["url"]
        )
    )
    assert from_consumer, f"no event for the consumer's error; received {sentry.events}"
    frames = from_consumer[0]["exception"]["values"][-1]["stacktrace"]["frames"]
    assert any(frame.get("function") == "connect" and "chat" in frame.get("filename", "") for frame in frames)
    # One error, one event: Daphne's own log record of the consumer's error
    # ("Exception inside application") is not sent a second time.
    time.sleep(1.0)
    errors = [
        (e.get("logger"), e.get("request", {}).get("url"))
        for e in sentry.events
        if "OperationalError" in exception_types(e)
    ]
    assert len(errors) == 2, errors


SECRETS = {
    "payload": "hunter2-in-the-payload",
    "query": "token-in-the-query",
    "email": "victim@example.org",
    "subprotocol": "token-in-the-subprotocol",
}


def test_a_socket_error_reaches_sentry_without_what_the_client_sent(daphne, sentry, tmp_path):
    """Tried, with send_default_pii off (the default): a chat socket opened
    with credentials in its query string and its Sec-WebSocket-Protocol
    header, in a room whose oldest message holds an impossible timestamp
    (February 30th, written by hand into the database: reading it raises a
    ValueError nothing catches); the client asks for that history page in a message that also carries a password. The
    consumer answers internal_error and logs the traceback, which the SDK
    sends as an event: it arrives, and holds none of what the client sent
    (no stack locals, no query string, no subprotocol, no payload)."""
    database = tmp_path / "sentry.sqlite3"
    database_url = f"sqlite:///{database}"
    migrated = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
    )
    assert migrated.returncode == 0, migrated.stderr
    ids = seed_messages(database_url, "lobby", 60, "seeder")
    with sqlite3.connect(database) as db:
        db.execute("UPDATE realtime_message SET created = '2020-02-30 00:00:00' WHERE id = ?", (ids[0],))
    server = daphne(SENTRY_DSN=sentry.dsn(), DATABASE_URL=database_url, REALTIME_TRACING="0")
    url = f"{server.ws_url}/ws/chat/lobby/?token={SECRETS['query']}&email={SECRETS['email']}"
    with connect(url, subprotocols=[f"bearer.{SECRETS['subprotocol']}"], open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "joined"  # the newest 50: readable
        ws.send(json.dumps({"action": "history", "before": ids[10], "password": SECRETS["payload"]}))
        frames = [json.loads(ws.recv(timeout=10))]
        while "error" not in frames[-1] and len(frames) < 20:  # presence frames may come first
            frames.append(json.loads(ws.recv(timeout=10)))
        assert frames[-1].get("error", {}).get("code") == "internal_error", frames

    events = sentry.wait_for(lambda e: e.get("logger") == "realtime.consumer_kit.consumer" and exception_types(e))
    assert events, f"no event for the socket's error; received {sentry.events}"
    event = events[0]
    assert "/ws/chat/lobby/" in event["request"]["url"]
    sent = json.dumps(sentry.events)
    leaked = [name for name, secret in SECRETS.items() if secret in sent]
    assert not leaked, f"Sentry received the client's {leaked}: {sent[:3000]}"
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert frames and not any(frame.get("vars") for frame in frames), "stack locals were sent"
