"""Request tracing, recording side: real Daphne processes write the
traces of real HTTP requests, WebSocket connections and messages to their
SQLite database, which the tests read; retention runs on the pytest-django
database. Nothing is mocked."""

import json
import re
import time
import uuid

import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from realtime import tracing
from tests.support.trace_db import (
    TRACED,
    Browser,
    all_stored_text,
    event_texts,
    make_user,
    wait_for_rows,
)


@pytest.fixture
def server(daphne):
    return daphne(**TRACED)


def test_http_request_leaves_a_trace_in_its_route_family(server, server_database):
    probe = uuid.uuid4().hex
    status, _, _ = Browser(server.http_url).get(f"/mouse/?probe={probe}")
    assert status == 200
    (row,) = wait_for_rows(server_database, "SELECT * FROM realtime_tracerecord WHERE events LIKE ?", (f"%{probe}%",))
    assert row["family"] == "http.GET /mouse/"
    assert row["title"] == "/mouse/"
    assert row["bucket"] == tracing.bucket_of(row["elapsed"])
    assert not row["is_error"]
    texts = event_texts(row)
    assert texts[0].startswith(f"GET /mouse/?probe={probe} from 127.0.0.1:")
    assert "status 200" in texts
    # Counted in the family's all-time histogram as well.
    (histogram,) = wait_for_rows(
        server_database, "SELECT * FROM realtime_latencyhistogram WHERE family = 'http.GET /mouse/' AND minute = 0"
    )
    assert histogram["count"] >= 1


def test_slow_request_lands_in_a_higher_latency_bucket(server, server_database):
    """A login POST hashes a password (PBKDF2, ~10^6 rounds): well over 50 ms,
    so it must not be filed under the ≥0s bucket alone."""
    browser = Browser(server.http_url)
    _, _, page = browser.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    user = f"nobody-{uuid.uuid4().hex[:8]}"
    browser.post(f"/admin/login/?u={user}", {"csrfmiddlewaretoken": token, "username": user, "password": "wrong"})
    (row,) = wait_for_rows(server_database, "SELECT * FROM realtime_tracerecord WHERE events LIKE ?", (f"%{user}%",))
    assert row["family"] == "http.POST /admin/login/"
    assert row["elapsed"] >= 0.05
    assert row["bucket"] == tracing.bucket_of(row["elapsed"]) >= 1


def test_connection_leaves_an_event_log(server, server_database):
    with ws_client.connect(server.ws_url + "/ws/mouse") as socket:
        port = socket.local_address[1]
        for x in range(3):
            socket.send(json.dumps({"x": x, "y": 1}))
            assert json.loads(socket.recv(5)) == {"x": x, "y": 1}
        time.sleep(0.3)  # the connection lives a moment: its duration is measured
    (log,) = wait_for_rows(
        server_database, "SELECT * FROM realtime_eventlogrecord WHERE title = ?", (f"/ws/mouse 127.0.0.1:{port}",)
    )
    assert log["family"] == "websocket.Conn"
    assert (log["messages_in"], log["messages_out"]) == (3, 3)
    assert log["elapsed"] >= 0.3
    assert not log["is_error"]
    texts = event_texts(log)
    assert texts[0].startswith(f"connect from 127.0.0.1:{port}")
    assert "accepted" in texts
    assert "disconnected, code 1000" in texts
    assert texts[-1].startswith("closed after") and texts[-1].endswith("3 messages in, 3 out")


def test_origin_rejection_is_logged_with_its_reason(server, server_database):
    """A handshake from a foreign page (Origin http://evil.example) is refused
    and the connection's log says so and is marked as an error."""
    # A host of this test's own: other tests' servers share this database
    # and are refused evil.example too.
    host = f"evil-{uuid.uuid4().hex[:8]}.example"
    with pytest.raises(InvalidStatus) as refused:
        ws_client.connect(server.ws_url + "/ws/echo", origin=f"http://{host}")
    assert refused.value.response.status_code == 403
    (log,) = wait_for_rows(
        server_database,
        "SELECT * FROM realtime_eventlogrecord WHERE events LIKE ?",
        (f"%{host} is not an allowed origin%",),
    )
    assert log["is_error"]
    assert any(text.startswith("rejected (handshake refused") for text in event_texts(log))


def test_each_received_message_leaves_a_receive_trace(server, server_database):
    probe = uuid.uuid4().hex
    with ws_client.connect(server.ws_url + "/ws/echo") as socket:
        socket.send(f"hello {probe}")
        assert socket.recv(5) == f"hello {probe}"
        socket.send(probe.encode())
        assert socket.recv(5) == probe.encode()
        big = probe + "z" * 200_000  # only a preview is kept, the size is the whole
        socket.send(big)
        assert socket.recv(5) == big
    (text_trace,) = wait_for_rows(
        server_database, "SELECT * FROM realtime_tracerecord WHERE events LIKE ?", (f"%hello {probe}%",)
    )
    assert (text_trace["family"], text_trace["title"]) == ("websocket.Receive", "/ws/echo")
    # An echo takes microseconds: bucket 0 unless this shared machine paused
    # the server for 50 ms in between; either way the bucket fits the time.
    assert text_trace["bucket"] == tracing.bucket_of(text_trace["elapsed"]) and not text_trace["is_error"]
    assert event_texts(text_trace) == [f"text, {len(probe) + 6} chars", f"preview: 'hello {probe}'"]
    (binary_trace,) = wait_for_rows(
        server_database, "SELECT * FROM realtime_tracerecord WHERE events LIKE ?", (f"%{probe.encode().hex()[:40]}%",)
    )
    assert event_texts(binary_trace)[0] == f"binary, {len(probe)} bytes"
    assert event_texts(binary_trace)[1] == f"preview: {probe.encode().hex()}"
    (big_trace,) = wait_for_rows(
        server_database, "SELECT * FROM realtime_tracerecord WHERE events LIKE ?", (f"%preview: '{probe}zzz%",)
    )
    assert event_texts(big_trace) == ["text, 200032 chars", f"preview: '{probe}{'z' * 48}'…"]


def test_a_bad_message_is_marked_as_an_error(server, server_database):
    """`{"x": "a"}` on /ws/mouse: the client gets an error frame, the socket
    stays open, and the message's trace is an error that says why."""
    probe = uuid.uuid4().hex
    with ws_client.connect(server.ws_url + "/ws/mouse") as socket:
        socket.send(json.dumps({"x": "a", "y": 1, "probe": probe}))
        assert "error" in json.loads(socket.recv(5))
        socket.send(json.dumps({"x": 1, "y": 1}))
        assert json.loads(socket.recv(5)) == {"x": 1, "y": 1}
    (row,) = wait_for_rows(server_database, "SELECT * FROM realtime_tracerecord WHERE events LIKE ?", (f"%{probe}%",))
    assert row["family"] == "websocket.Receive" and row["is_error"]
    assert any("error" in text and "'x'" in text for text in event_texts(row)[1:])
    errors = wait_for_rows(
        server_database,
        "SELECT * FROM realtime_tracerecord WHERE family = 'websocket.Receive' AND is_error = 1 AND events LIKE ?",
        (f"%{probe}%",),
    )
    assert errors


def test_secrets_never_reach_the_database(server, server_database):
    """Tried: an admin login (password in the form, CSRF token), requests with
    the session and CSRF cookies, an Authorization header, secrets in the query
    string, a WebSocket handshake with the cookies and a message with a
    "password" field. None of these values may be stored anywhere; the
    requests themselves must be (so absence is not mere silence)."""
    username, password = make_user(server_database, staff=True)
    browser = Browser(server.http_url)
    assert browser.admin_login(username, password) == "/admin/"
    session_id, csrf_token = browser.cookie("sessionid"), browser.cookie("csrftoken")
    assert session_id and csrf_token
    bearer = f"bearer-{uuid.uuid4().hex}"
    query_password = f"qp-{uuid.uuid4().hex}"
    query_token = f"qt-{uuid.uuid4().hex}"
    probe = uuid.uuid4().hex
    browser.get(
        f"/mouse/?probe={probe}&password={query_password}&token={query_token}",
        headers={"Authorization": f"Bearer {bearer}"},
    )
    message_password = f"mp-{uuid.uuid4().hex}"
    with ws_client.connect(
        server.ws_url + "/ws/echo",
        additional_headers={
            "Cookie": browser.cookie_header(),
            "Authorization": f"Bearer {bearer}",
        },
    ) as socket:
        socket.send(json.dumps({"user": probe, "password": message_password}))
        socket.recv(5)
    (request,) = wait_for_rows(
        server_database,
        "SELECT * FROM realtime_tracerecord WHERE family = 'http.GET /mouse/' AND events LIKE ?",
        (f"%{probe}%",),
    )
    assert "password=[redacted]" in event_texts(request)[0]
    wait_for_rows(
        server_database,
        "SELECT * FROM realtime_tracerecord WHERE family = 'websocket.Receive' AND events LIKE ?",
        (f"%{probe}%",),
    )
    wait_for_rows(
        server_database,
        "SELECT * FROM realtime_tracerecord WHERE family = 'http.POST /admin/login/' AND events LIKE '%status 302%'",
    )
    stored = all_stored_text(server_database)
    for secret in (password, session_id, csrf_token, bearer, query_password, query_token, message_password):
        assert secret not in stored


def summary_row(page, family):
    """The cells of `family`'s row in /debug/requests' summary table, as text."""
    row = re.search(rf'<tr data-family="{re.escape(family)}">(.*?)</tr>', page, re.S)
    assert row, f"no row for {family}"
    return {
        m.group(1).split()[0]: re.sub(r"<[^>]+>", "", m.group(2)).strip()
        for m in re.finditer(r'<td class="([^"]+)"[^>]*>(.*?)</td>', row.group(1), re.S)
    }


def test_summary_families_read_as_routes_and_connections_count_in_the_total(server, server_database):
    """Tried: a chat page (a regular-expression route) and a socket left
    open, then closed. The family is the route as a person writes it, and
    the connection family's Total counts the open one, then the closed one."""
    username, password = make_user(server_database, staff=True)
    browser = Browser(server.http_url)
    browser.admin_login(username, password)
    assert browser.get("/chat/lobby/")[0] == 200

    def summary_when(check, family):
        deadline = time.monotonic() + 10
        while True:
            page = browser.get("/debug/requests")[2]
            if family in page and check(summary_row(page, family)) or time.monotonic() > deadline:
                return page

    page = summary_when(lambda row: True, "http.GET /chat/&lt;room&gt;/")
    assert "http.GET /chat/&lt;room&gt;/" in page and "(?P" not in page
    # (The database is the session's: earlier tests' connections count too.)
    with ws_client.connect(server.ws_url + "/ws/echo"):
        page = summary_when(lambda row: row["active"] == "[1 active]", "websocket.Conn")
        row = summary_row(page, "websocket.Conn")
        assert row["active"] == "[1 active]" and int(row["total"]) >= 1, row
        total_open = int(row["total"])
    # Closed, it is still counted (finished now).
    page = summary_when(lambda row: row["active"] == "[0 active]", "websocket.Conn")
    row = summary_row(page, "websocket.Conn")
    assert row["active"] == "[0 active]" and int(row["total"]) >= total_open, row


def test_active_traces_are_shown_from_every_process(daphne, server_database, redis_url, channel_prefix):
    """Two processes on one Redis: a connection open on A is listed as active
    on B's /debug/requests (from A's snapshot in Redis)."""
    env = {**TRACED, "REDIS_URL": redis_url, "CHANNEL_LAYER_PREFIX": channel_prefix}
    first, second = daphne(**env), daphne(**env)
    username, password = make_user(server_database, staff=True)
    browser = Browser(second.http_url)
    browser.admin_login(username, password)
    with ws_client.connect(first.ws_url + "/ws/mouse") as socket:
        title = f"/ws/mouse 127.0.0.1:{socket.local_address[1]}"
        deadline = time.monotonic() + 8
        page = ""
        while time.monotonic() < deadline and title not in page:
            _, _, page = browser.get("/debug/requests?fam=websocket.Conn&b=-1&exp=1")
            time.sleep(0.2)
        assert title in page
        assert "[1 active]" in page or "active]" in page
    # Closed: the snapshot no longer lists it once A republished.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and title in page:
        _, _, page = browser.get("/debug/requests?fam=websocket.Conn&b=-1")
        time.sleep(0.2)
    assert title not in page


def test_a_server_on_postgresql_writes_and_purges_traces(daphne, postgres_url):
    """The writer thread and the purge of a real Daphne process on
    PostgreSQL (a fresh database per run): messages sent in several
    flushes end up as at most REALTIME_TRACE_KEEP (3 here) rows of the
    bucket, while the histogram counts every message."""
    import os
    import subprocess

    import psycopg

    from tests.support.paths import PYTHON, ROOT
    from tests.support.postgres import database_url

    admin = psycopg.connect(postgres_url, autocommit=True, connect_timeout=3)
    name = f"tracing_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = database_url(postgres_url, name)
    try:
        migrate = subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url},
            capture_output=True,
            text=True,
        )
        assert migrate.returncode == 0, migrate.stderr
        server = daphne(**TRACED, DATABASE_URL=url, REALTIME_TRACE_KEEP="3", REALTIME_TRACE_PURGE_SECONDS="0.5")
        with ws_client.connect(server.ws_url + "/ws/echo") as socket:
            for i in range(12):
                socket.send(f"pg {i}")
                socket.recv(5)
                time.sleep(0.05)  # spread over several 0.2 s flushes
        with psycopg.connect(url, autocommit=True) as connection:
            deadline = time.monotonic() + 10
            count = rows = None
            while time.monotonic() < deadline:
                row = connection.execute(
                    "SELECT count FROM realtime_latencyhistogram WHERE family = 'websocket.Receive' AND minute = 0"
                ).fetchone()
                count = row[0] if row else 0
                rows = connection.execute(
                    "SELECT count(*) FROM realtime_tracerecord WHERE family = 'websocket.Receive' AND bucket = 0"
                ).fetchone()[0]
                if count == 12 and rows <= 3:
                    break
                time.sleep(0.2)
            assert count == 12
            assert 1 <= rows <= 3
            newest = connection.execute(
                "SELECT events FROM realtime_tracerecord WHERE family = "
                "'websocket.Receive' ORDER BY started_at DESC LIMIT 1"
            ).fetchone()[0]
            assert [event[1] for event in newest] == ["text, 5 chars", "preview: 'pg 11'"]
        server.stop()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
