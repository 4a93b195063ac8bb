"""Growing the trace tables from outside, against real servers: made-up
HTTP methods share one family; the number of families is capped, the rest
sharing one overflow family; the all-time histograms of families with no
recent trace are purged with them. Each test's server has a database of its
own, so the family counts are its own."""

import http.client
import os
import sqlite3
import subprocess
import time
import uuid

import pytest

from tests.support.paths import PYTHON, ROOT
from tests.support.trace_db import Browser, make_user, query, wait_for_rows

FAST = {"REALTIME_TRACING": "1", "REALTIME_TRACE_FLUSH_SECONDS": "0.2"}
OVERFLOW = "(other families)"


@pytest.fixture
def own_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'traces.sqlite3'}"
    migrated = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
    )
    assert migrated.returncode == 0, migrated.stderr
    return url


def request(server, method, path):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def stored_families(database_url):
    """Every family with a stored trace or histogram."""
    rows = query(
        database_url, "SELECT family FROM realtime_tracerecord UNION SELECT family FROM realtime_latencyhistogram"
    )
    return {row["family"] for row in rows}


def staff_summary(server, database_url):
    username, password = make_user(database_url, staff=True)
    browser = Browser(server.http_url)
    browser.admin_login(username, password)
    return browser.get("/debug/requests")[2]


def test_made_up_methods_share_one_family(daphne, own_database):
    """Tried: 40 requests with 40 made-up methods (curl -X ANYTHING...) on a
    page and on a path with no route; then the standard ones."""
    server = daphne(**FAST, DATABASE_URL=own_database)
    made_up = [f"X{uuid.uuid4().hex[:10].upper()}" for _ in range(40)]
    for index, method in enumerate(made_up):
        request(server, method, "/mouse/" if index % 2 else f"/nothing-here-{index}")
    for method in ("GET", "HEAD", "OPTIONS", "DELETE"):
        request(server, method, "/mouse/")
    wait_for_rows(
        own_database,
        "SELECT family FROM realtime_latencyhistogram WHERE family = ? AND minute = 0",
        ("http.OTHER /mouse/",),
    )
    wait_for_rows(own_database, "SELECT family FROM realtime_latencyhistogram WHERE family = 'http.DELETE /mouse/'")
    families = stored_families(own_database)
    assert {"http.OTHER /mouse/", "http.OTHER (no route)"} <= families, families
    assert not [family for family in families if any(method in family for method in made_up)], families
    (other,) = query(
        own_database, "SELECT count FROM realtime_latencyhistogram WHERE minute = 0 AND family = 'http.OTHER /mouse/'"
    )
    assert other["count"] == 20
    page = staff_summary(server, own_database)
    assert "http.OTHER /mouse/" in page
    assert not [method for method in made_up if method in page.split('id="trace-summary"')[1].split("</table>")[0]]


def test_the_number_of_families_is_capped(daphne, own_database):
    """Tried: requests to 14 different routes (14 families) on a server with
    REALTIME_TRACE_MAX_FAMILIES=6: six keep their own family, the traces of
    the others are counted under one shared family; nothing is lost from
    the counts."""
    server = daphne(**FAST, DATABASE_URL=own_database, REALTIME_TRACE_MAX_FAMILIES="6")
    paths = [
        "/",
        "/mouse/",
        "/echo/",
        "/chat/a/",
        "/accounts/login/",
        "/accounts/signup/",
        "/healthz",
        "/static/realtime/style.css",
        "/nothing-here",
        "/admin/login/",
        "/debug/requests",
        "/debug/events",
        "/debug/requests/histogram",
    ]
    for path in paths:
        request(server, "GET", path)
        time.sleep(0.05)
    request(server, "POST", "/mouse/")
    count = len(paths) + 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        totals = {
            row["family"]: row["count"]
            for row in query(own_database, "SELECT family, count FROM realtime_latencyhistogram WHERE minute = 0")
        }
        if sum(totals.values()) >= count:
            break
        time.sleep(0.2)
    families = stored_families(own_database)
    assert OVERFLOW in families, families
    assert len(families - {OVERFLOW}) == 6, families
    assert sum(totals.values()) == count, totals  # every trace counted, capped or not
    assert totals[OVERFLOW] == count - 6
    page = staff_summary(server, own_database)
    assert OVERFLOW in page


def test_families_with_no_recent_trace_lose_their_all_time_rows(daphne, own_database):
    """Tried: with REALTIME_TRACE_MAX_AGE_SECONDS=3, traffic to three pages
    (their families and all-time histograms appear); then only /mouse/ stays
    busy. The other two families' traces age out and their all-time and
    per-minute histogram rows go with them, so they leave the staff page;
    with a cap of 3 families, the places they freed go to new families."""
    server = daphne(
        **FAST,
        DATABASE_URL=own_database,
        REALTIME_TRACE_MAX_AGE_SECONDS="3",
        REALTIME_TRACE_PURGE_SECONDS="0.5",
        REALTIME_TRACE_MAX_FAMILIES="3",
    )
    for path in ("/mouse/", "/echo/", "/accounts/login/"):
        request(server, "GET", path)
    wait_for_rows(own_database, "SELECT family FROM realtime_latencyhistogram WHERE minute = 0", count=3)
    request(server, "GET", "/healthz")  # a fourth family: over the cap
    wait_for_rows(own_database, "SELECT family FROM realtime_latencyhistogram WHERE family = ?", (OVERFLOW,))

    deadline = time.monotonic() + 20
    families = set()
    while time.monotonic() < deadline:
        request(server, "GET", "/mouse/")
        families = {
            row["family"] for row in query(own_database, "SELECT DISTINCT family FROM realtime_latencyhistogram")
        }
        if families == {"http.GET /mouse/"}:
            break
        time.sleep(0.5)
    assert families == {"http.GET /mouse/"}, families
    # The freed places take new families (the writer re-reads the stored ones
    # every REALTIME_TRACE_PURGE_SECONDS).
    time.sleep(1.0)
    request(server, "GET", "/healthz")
    wait_for_rows(
        own_database, "SELECT family FROM realtime_latencyhistogram WHERE minute = 0 AND family = 'http.GET /healthz'"
    )
    summary = staff_summary(server, own_database).split('id="trace-summary"')[1].split("</table>")[0]
    assert "http.GET /healthz" in summary
    assert "http.GET /echo/" not in summary and "http.GET /accounts/login/" not in summary


def test_the_database_stays_small_under_made_up_methods(daphne, own_database):
    """Tried: 500 requests, each with a method of its own. The trace tables
    hold one family for all of them."""
    server = daphne(**FAST, DATABASE_URL=own_database)
    for n in range(500):
        request(server, f"M{n:04d}{uuid.uuid4().hex[:6].upper()}", "/")
    wait_for_rows(
        own_database,
        "SELECT count FROM realtime_latencyhistogram WHERE minute = 0 AND family = ? AND count >= 500",
        ("http.OTHER /",),
    )
    with sqlite3.connect(own_database.removeprefix("sqlite:///")) as db:
        histogram_families = db.execute("SELECT count(DISTINCT family) FROM realtime_latencyhistogram").fetchone()[0]
        trace_families = db.execute("SELECT count(DISTINCT family) FROM realtime_tracerecord").fetchone()[0]
    assert histogram_families <= 2 and trace_families <= 2, (histogram_families, trace_families)
