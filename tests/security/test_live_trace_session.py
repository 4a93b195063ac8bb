"""The live tracing socket (/ws/debug/requests) outliving its session, on a
real server: a staff user's socket is open and streaming; then the session
ends (logout, expiry, a password change) or the user loses the staff flag.
The socket must close with 1008 within a few seconds (it re-checks every
REALTIME_TRACE_LIVE_RECHECK_SECONDS, 2 s by default) and send nothing after;
while the session stands, it stays open."""

import asyncio
import os
import re
import sqlite3
import subprocess
import time

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.support.paths import PYTHON, ROOT
from tests.support.trace_db import Browser, make_user

FAST = {"REALTIME_TRACING": "1", "REALTIME_TRACE_FLUSH_SECONDS": "0.2"}
# Default recheck period 2 s, plus a flush and a busy machine.
CLOSE_WITHIN = 6.0


def staff_session(server, database_url):
    username, password = make_user(database_url, staff=True)
    browser = Browser(server.http_url)
    assert browser.admin_login(username, password) == "/admin/"
    return username, browser


async def open_live(server, browser):
    socket = await websockets.connect(
        f"{server.ws_url}/ws/debug/requests", additional_headers={"Cookie": browser.cookie_header()}, open_timeout=10
    )
    first = await asyncio.wait_for(socket.recv(), 10)
    assert "summary" in first
    return socket


async def closed_after(socket, timeout):
    """Read until the server closes; (close code, seconds it took)."""
    started = time.monotonic()
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(socket.recv(), timeout)
    return closed.value.rcvd.code if closed.value.rcvd else None, time.monotonic() - started


def run_in_server_database(database_url, code):
    result = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url, "REALTIME_TRACING": "0"},
    )
    assert result.returncode == 0, result.stderr


async def test_logout_closes_the_live_socket_with_1008(daphne, server_database):
    """Tried: staff opens the live socket, then logs out of the admin in the
    same browser (POST /admin/logout/)."""
    server = daphne(**FAST)
    _, browser = staff_session(server, server_database)
    socket = await open_live(server, browser)
    _, _, admin_page = browser.get("/admin/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', admin_page).group(1)
    browser.post("/admin/logout/", {"csrfmiddlewaretoken": token})
    code, seconds = await closed_after(socket, CLOSE_WITHIN + 2)
    assert code == 1008 and seconds < CLOSE_WITHIN, (code, seconds)


async def test_an_expired_session_closes_the_live_socket(daphne, server_database):
    """Tried: the session's expiry date passes while the socket is open
    (moved into the past in the session table, as time would)."""
    server = daphne(**FAST)
    _, browser = staff_session(server, server_database)
    socket = await open_live(server, browser)
    with sqlite3.connect(server_database.removeprefix("sqlite:///"), timeout=10) as db:
        db.execute(
            "UPDATE django_session SET expire_date = '2000-01-01 00:00:00' WHERE session_key = ?",
            (browser.cookie("sessionid"),),
        )
    code, seconds = await closed_after(socket, CLOSE_WITHIN + 2)
    assert code == 1008 and seconds < CLOSE_WITHIN, (code, seconds)


@pytest.mark.parametrize("change", ["staff flag removed", "deactivated", "password changed"])
async def test_losing_staff_or_the_password_closes_the_live_socket(daphne, server_database, change):
    """Tried: while the socket is open, an administrator removes the user's
    staff flag, or deactivates the user, or the password is changed."""
    server = daphne(**FAST)
    username, browser = staff_session(server, server_database)
    socket = await open_live(server, browser)
    update = {
        "staff flag removed": "user.is_staff = False",
        "deactivated": "user.is_active = False",
        "password changed": "user.set_password('a-whole-new-password-42')",
    }[change]
    run_in_server_database(
        server_database,
        "from django.contrib.auth import get_user_model;"
        f"user = get_user_model().objects.get(username={username!r}); {update}; user.save()",
    )
    code, seconds = await closed_after(socket, CLOSE_WITHIN + 2)
    assert code == 1008 and seconds < CLOSE_WITHIN, (code, seconds)


async def test_a_valid_session_keeps_streaming(daphne, server_database):
    """The control: with nothing changed the socket stays open through
    several re-checks and keeps its updates coming."""
    server = daphne(**FAST)
    _, browser = staff_session(server, server_database)
    socket = await open_live(server, browser)
    deadline = time.monotonic() + 7
    updates = 0
    try:
        while time.monotonic() < deadline:
            browser.get("/mouse/")  # something new for the summary
            try:
                await asyncio.wait_for(socket.recv(), 1.5)
                updates += 1
            except TimeoutError:
                pass
        assert updates >= 2
    finally:
        await socket.close()
    assert socket.close_code == 1000
