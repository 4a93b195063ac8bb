"""A malformed setting stops the start with one line that names it.

Tried: each value below as an operator might mistype it, given to the real
server (`python -m realtime.server`) and to a management command
(`manage.py migrate`). Each must exit non-zero, print exactly one line on
stderr (no traceback) naming the variable and saying what is wrong, print
nothing else, and never listen. Before these checks `REDIS_URL=notaurl`
started a server that never ticked and logged ~1,200 lines in 20 s, and
`DATABASE_URL=foo://bar` ended in a 36-line traceback. A password written
in a URL is not repeated in the message.
"""

import socket
import subprocess

import pytest

from tests.support.paths import PYTHON, ROOT
from tests.support.ports import free_port
from tests.support.servers import server_environment

BAD_SETTINGS = [
    ("REDIS_URL", "notaurl", "not a Redis URL"),
    ("REDIS_URL", "redis://127.0.0.1:63790/zero", "the database 'zero' is not a number"),
    ("REDIS_URL", "redis://127.0.0.1:port/0", "the port is not a number"),
    ("REDIS_SHARDS", "redis://127.0.0.1:6379/0,127.0.0.1:6380", "not a Redis URL"),
    ("REDIS_SENTINELS", "127.0.0.1:26379,127.0.0.1", "'127.0.0.1' is not host:port"),
    ("REDIS_SENTINELS", "127.0.0.1:99999", "is not host:port"),
    ("DATABASE_URL", "foo://bar", "unsupported scheme 'foo'"),
    ("DATABASE_URL", "postgres.example.com/realtime", "not a database URL"),
    ("DATABASE_URL", "postgres://realtime:s3cret@127.0.0.1:54321x/realtime", "the port is not a number"),
    ("DATABASE_URL", "postgres://realtime@127.0.0.1:5432/", "no database name"),
    ("REALTIME_INBOUND_QUEUE", "lots", "is not a valid int"),
    ("REALTIME_SEND_BUFFER_BYTES", "-1", "must be a finite number, 0 or more"),
    ("REALTIME_GC_FULL_SECONDS", "nan", "must be a finite number, 0 or more"),
    ("REALTIME_SHUTDOWN_GRACE_SECONDS", "3s", "is not a valid float"),
    ("CHAT_HISTORY_PAGE", "0", "must be at least 1"),
    ("CHAT_POST_RATE_SECONDS", "inf", "not a finite number"),
    ("CHAT_POST_RATE_COUNT", "ten", "not a whole number"),
    ("REALTIME_PERMESSAGE_DEFLATE", "maybe", "is not a valid bool"),
    ("DJANGO_DEBUG", "maybe", "not a yes/no value"),
]


def ids(cases):
    return [f"{name}={value}" for name, value, _ in cases]


def run(argv, name, value, database_url):
    env = server_environment(database_url, **{name: value})
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def assert_one_line_naming(result, name, value, problem):
    said = result.stderr.splitlines()
    assert result.returncode != 0, result
    assert len(said) == 1, f"{name}={value!r}: expected one line on stderr, got {len(said)}:\n{result.stderr}"
    assert said[0].startswith(f"error: {name}="), said[0]
    assert problem in said[0], said[0]
    assert "s3cret" not in said[0]
    assert result.stdout == "", result.stdout


@pytest.mark.parametrize(("name", "value", "problem"), BAD_SETTINGS, ids=ids(BAD_SETTINGS))
def test_the_server_refuses_a_malformed_setting_in_one_line(name, value, problem, server_database):
    port = free_port()
    result = run(
        [PYTHON, "-m", "realtime.server", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        name,
        value,
        server_database,
    )
    assert_one_line_naming(result, name, value, problem)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


@pytest.mark.parametrize(("name", "value", "problem"), BAD_SETTINGS[::3], ids=ids(BAD_SETTINGS[::3]))
def test_a_management_command_refuses_a_malformed_setting_in_one_line(name, value, problem, server_database):
    result = run([PYTHON, "manage.py", "migrate", "--noinput"], name, value, server_database)
    assert_one_line_naming(result, name, value, problem)
