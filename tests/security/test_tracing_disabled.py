"""REALTIME_TRACING=0 on a real server: pages and sockets work as usual and
not one trace, event log or histogram row is written; the same traffic on
a server with tracing on is written within a second (so the check can tell)."""

import json
import sqlite3
import time
import urllib.error
import urllib.request
import uuid

import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

TABLES = ("realtime_tracerecord", "realtime_eventlogrecord", "realtime_latencyhistogram")


def row_counts(database_url):
    with sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=10) as db:
        return {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}


def mentions(database_url, probe):
    with sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=10) as db:
        return sum(
            db.execute(
                f"SELECT count(*) FROM {table} WHERE events LIKE ? OR title LIKE ?", (f"%{probe}%", f"%{probe}%")
            ).fetchone()[0]
            for table in TABLES[:2]
        )


def traffic(server, probe):
    """Pages, a static file, a 404, sockets with messages, a refused
    handshake: everything that is traced when tracing is on."""
    for path in (f"/mouse/?probe={probe}", f"/chat/{probe}/", "/static/realtime/style.css", f"/{probe}-missing"):
        try:
            with urllib.request.urlopen(server.http_url + path, timeout=10) as response:
                assert response.status == 200
        except urllib.error.HTTPError as error:
            assert error.code == 404 and path.endswith("-missing")
    with ws_client.connect(f"{server.ws_url}/ws/mouse?probe={probe}") as socket:
        for x in range(20):
            socket.send(json.dumps({"x": x, "y": 1}))
            assert json.loads(socket.recv(5)) == {"x": x, "y": 1}
        socket.send("[" * 100)  # an error frame: traced as an error when tracing is on
        assert "error" in json.loads(socket.recv(5))
    with ws_client.connect(f"{server.ws_url}/ws/echo") as socket:
        socket.send(f"echo {probe}")
        assert socket.recv(5) == f"echo {probe}"
    try:
        ws_client.connect(f"{server.ws_url}/ws/echo", origin=f"http://{probe}.example").close()
        raise AssertionError("a foreign origin was accepted")
    except InvalidStatus as refused:
        assert refused.response.status_code == 403


def test_no_trace_is_written_with_tracing_off(daphne, server_database):
    """Tried: the traffic above on a server with REALTIME_TRACING=0 (and the
    writer's interval at 0.2 s, so anything recorded would be written at
    once), then waiting 1.5 s."""
    probe = f"off{uuid.uuid4().hex[:10]}"
    before = row_counts(server_database)
    off = daphne(REALTIME_TRACING="0", REALTIME_TRACE_FLUSH_SECONDS="0.2")
    traffic(off, probe)
    time.sleep(1.5)
    assert mentions(server_database, probe) == 0
    assert row_counts(server_database) == before
    off.stop()  # a writer would also flush at shutdown
    assert row_counts(server_database) == before
    assert "Traceback" not in off.output()

    # The same traffic with tracing on is written: the check above can see it.
    on = daphne(REALTIME_TRACING="1", REALTIME_TRACE_FLUSH_SECONDS="0.2")
    probe_on = f"on{uuid.uuid4().hex[:10]}"
    traffic(on, probe_on)
    deadline = time.monotonic() + 10
    while mentions(server_database, probe_on) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    # (Row counts are not compared here: this server's retention may delete
    # older rows of the shared database as it writes new ones.)
    assert mentions(server_database, probe_on) >= 3
