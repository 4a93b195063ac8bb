"""The chat's and accounts' database tests (test_chat.py, test_chat_stream.py
and test_accounts.py beside this file) run again, on PostgreSQL (the machine's, or a private one:
the `postgres_url` fixture).

pytest-django takes its database from settings (DATABASE_URL) once per run,
so this test starts a second pytest run with DATABASE_URL pointing at
PostgreSQL. The database name is unique per run (pytest-django makes
`test_<name>` from it), so concurrent runs never share a test database.
`--reuse-db` leaves that database behind, which lets this test check that
the run really used PostgreSQL before dropping it."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.postgres import database_url

HERE = Path(__file__).resolve().parent
DATABASE_TEST_FILES = [
    str((HERE / name).relative_to(ROOT)) for name in ("test_chat.py", "test_chat_stream.py", "test_accounts.py")
]


def admin_connection(postgres_url):
    import psycopg

    return psycopg.connect(postgres_url, autocommit=True, connect_timeout=3)


def test_chat_and_account_database_tests_pass_on_postgresql(postgres_url):
    name = f"chat_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = database_url(postgres_url, name)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", *DATABASE_TEST_FILES, "-q", "-p", "no:cacheprovider", "--reuse-db"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"the database tests fail on PostgreSQL:\n{output[-6000:]}"
        assert " passed" in output and "skipped" not in output, output[-2000:]
        with admin_connection(postgres_url) as connection:
            databases = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
            assert f"test_{name}" in databases, "the run did not use PostgreSQL"
    finally:
        with admin_connection(postgres_url) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "test_{name}" WITH (FORCE)')
