"""Helpers of the tracing tests (tests/tracing/): users in a Daphne
subprocess's database, an admin login over real HTTP, and reading what the
server's trace writer stored."""

import http.cookiejar
import json
import os
import re
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from tests.support.paths import PYTHON, ROOT

# The servers of these tests write traces every 0.2 s instead of every second,
# and keep the first 80 characters of each received message (off by default:
# these tests find a message's trace by what it said).
TRACED = {"REALTIME_TRACING": "1", "REALTIME_TRACE_FLUSH_SECONDS": "0.2", "REALTIME_TRACE_PAYLOAD_PREVIEW": "80"}


def make_user(database_url, staff, password=None, sensitive=False):
    """Create a user in the server's database; returns (username, password).
    `sensitive`: with the permission to see trace events marked sensitive."""
    username = f"{'staff' if staff else 'user'}-{uuid.uuid4().hex[:8]}"
    password = password or f"pw-{uuid.uuid4().hex}"
    code = (
        "from django.contrib.auth import get_user_model;"
        "from django.contrib.auth.models import Permission;"
        f"user = get_user_model().objects.create_user({username!r}, password={password!r}, is_staff={staff!r});"
        + ("user.user_permissions.add(Permission.objects.get(codename='view_sensitive_events'))" if sensitive else "")
    )
    result = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "REALTIME_TRACING": "0"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return username, password


class Browser:
    """urllib with a cookie jar that does not follow redirects blindly: it
    records where each response wanted to go."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path, headers=None):
        request = urllib.request.Request(self.base_url + path, headers=headers or {})
        with self.opener.open(request, timeout=10) as response:
            return response.status, response.geturl()[len(self.base_url) :], response.read().decode()

    def post(self, path, fields, headers=None):
        request = urllib.request.Request(
            self.base_url + path, data=urllib.parse.urlencode(fields).encode(), headers=headers or {}
        )
        with self.opener.open(request, timeout=20) as response:
            return response.status, response.geturl()[len(self.base_url) :], response.read().decode()

    def cookie(self, name):
        return next((cookie.value for cookie in self.cookies if cookie.name == name), None)

    def cookie_header(self):
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.cookies)

    def admin_login(self, username, password):
        _, _, page = self.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        status, where, _ = self.post(
            "/admin/login/?next=/admin/",
            {
                "csrfmiddlewaretoken": token,
                "username": username,
                "password": password,
                "next": "/admin/",
            },
        )
        return where


def database_path(database_url):
    assert database_url.startswith("sqlite:///"), database_url
    return database_url[len("sqlite:///") :]


def query(database_url, sql, params=()):
    connection = sqlite3.connect(database_path(database_url), timeout=10)
    try:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute(sql, params)]
    finally:
        connection.close()


def wait_for_rows(database_url, sql, params=(), count=1, timeout=10.0):
    """Poll until `sql` returns at least `count` rows (the writer flushes
    every 0.2 s in these tests); fail with what was there otherwise."""
    deadline = time.monotonic() + timeout
    rows = []
    while time.monotonic() < deadline:
        rows = query(database_url, sql, params)
        if len(rows) >= count:
            for row in rows:
                if "events" in row and isinstance(row["events"], str):
                    row["events"] = json.loads(row["events"])
            return rows
        time.sleep(0.1)
    raise AssertionError(f"expected {count} row(s) for {sql} {params}, found {len(rows)}: {rows}")


def all_stored_text(database_url):
    """Every stored trace and event log, as one string (to search for secrets)."""
    parts = []
    for table in ("realtime_tracerecord", "realtime_eventlogrecord"):
        for row in query(database_url, f"SELECT * FROM {table}"):
            parts.append(json.dumps(row, default=str))
    return "\n".join(parts)


def event_texts(row):
    return [event[1] for event in row["events"]]


def http_error_location(callable_):
    try:
        callable_()
    except urllib.error.HTTPError as error:
        return error.code
    return None
