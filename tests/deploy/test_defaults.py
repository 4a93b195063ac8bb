"""Safe defaults: the server started as `python -m realtime.serve` (what the
image runs) with no DJANGO_DEBUG and no secret in its environment.

- DEBUG is off: a foreign Host gets a plain 400, not Django's debug page
  (which shows settings, paths and the URL list);
- no key is known: without DJANGO_SECRET_KEY the installation makes a random
  key on its first start and keeps it (a login survives a restart), in a file
  only its owner can read; a given DJANGO_SECRET_KEY wins; where no key can be
  kept the server refuses to start with one line.

Logins are the user-visible sign of the key: Django's session is bound to it
(the session's auth hash is an HMAC with SECRET_KEY), so a changed key logs
everyone out.
"""

import http.client
import os
import stat
import subprocess

import pytest

from tests.support.paths import PYTHON, ROOT
from tests.support.ports import free_port
from tests.support.servers import DaphneProcess
from tests.support.trace_db import Browser, make_user


@pytest.fixture
def bare_server(server_database, tmp_path):
    """Start `python -m realtime.serve` with only what a shell with nothing
    exported has, plus the database file and `env`."""
    started = []

    def start(**env):
        full_env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": server_database,
            **env,
        }
        server = DaphneProcess(full_env, tmp_path / f"server-{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def get_with_host(server, host):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/", headers={"Host": host})
    response = connection.getresponse()
    body = response.read().decode(errors="replace")
    connection.close()
    return response.status, body


def test_a_foreign_host_gets_a_plain_400_and_no_debug_page(bare_server):
    """Tried: GET / with `Host: attacker.example` on a server started with no
    DJANGO_DEBUG and no secret. Then the same with DJANGO_DEBUG=1, to show
    what the first answer would have given away."""
    status, body = get_with_host(bare_server(), "attacker.example")
    assert status == 400
    for leak in ("DisallowedHost", "Traceback", "SECRET_KEY", "settings", str(ROOT)):
        assert leak not in body, leak
    assert len(body) < 200, body
    # The default key file: made on this first start (or an earlier one), owner-only.
    assert stat.S_IMODE((ROOT / ".secret_key").stat().st_mode) == 0o600

    status, body = get_with_host(bare_server(DJANGO_DEBUG="1"), "attacker.example")
    assert status == 400 and "DisallowedHost" in body  # the debug page, only when asked for


def log_in_staff(server, server_database):
    username, password = make_user(server_database, staff=True)
    browser = Browser(server.http_url)
    assert browser.admin_login(username, password) == "/admin/"
    return browser


def logged_in_at(browser, server):
    """Whether the browser's session still opens the admin on `server`."""
    browser.base_url = server.http_url
    _, where, _ = browser.get("/admin/")
    return where == "/admin/"


def test_a_generated_key_is_kept_across_restarts(bare_server, server_database, tmp_path):
    """Tried: start with no DJANGO_SECRET_KEY (the key's file in a fresh data
    folder), log in, restart: still logged in, the same key on disk. Then the
    key file deleted and a restart: a new key, and the login is gone."""
    key_file = tmp_path / "data" / "secret_key"
    server = bare_server(DJANGO_SECRET_KEY_FILE=str(key_file))
    key = key_file.read_text()
    assert len(key.strip()) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    browser = log_in_staff(server, server_database)
    server.stop()

    server = bare_server(DJANGO_SECRET_KEY_FILE=str(key_file))
    assert logged_in_at(browser, server)
    assert key_file.read_text() == key
    server.stop()

    key_file.unlink()
    server = bare_server(DJANGO_SECRET_KEY_FILE=str(key_file))
    assert key_file.read_text() != key
    assert not logged_in_at(browser, server)


def test_a_given_key_wins_over_a_kept_one(bare_server, server_database, tmp_path):
    """Tried: DJANGO_SECRET_KEY given, with DJANGO_SECRET_KEY_FILE naming a
    missing file (it is not made), then naming a file holding another key
    (it is not used): the login made under the given key survives both."""
    given = "given-key-" + "k" * 50
    unused = tmp_path / "unused_key"
    server = bare_server(DJANGO_SECRET_KEY=given, DJANGO_SECRET_KEY_FILE=str(unused))
    browser = log_in_staff(server, server_database)
    assert not unused.exists()
    server.stop()

    other = tmp_path / "other_key"
    other.write_text("another-key-" + "o" * 50 + "\n")
    server = bare_server(DJANGO_SECRET_KEY=given, DJANGO_SECRET_KEY_FILE=str(other))
    assert logged_in_at(browser, server)
    server.stop()
    # The file's key, alone, is another key: the same login is refused.
    server = bare_server(DJANGO_SECRET_KEY_FILE=str(other))
    assert not logged_in_at(browser, server)


def test_no_key_and_nowhere_to_keep_one_refuses_to_start_with_one_line(server_database, tmp_path):
    """Tried: no DJANGO_SECRET_KEY, and DJANGO_SECRET_KEY_FILE under /proc
    (cannot be created, even by root). The server exits non-zero and says
    why in one line, with no traceback; nothing listens."""
    port = free_port()
    run = subprocess.run(
        [PYTHON, "-m", "realtime.serve", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "DATABASE_URL": server_database,
            "DJANGO_SECRET_KEY_FILE": "/proc/no-such-folder/secret_key",
        },
    )
    assert run.returncode != 0
    lines = (run.stdout + run.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "DJANGO_SECRET_KEY is not set" in lines[0] and "/proc/no-such-folder/secret_key" in lines[0]
