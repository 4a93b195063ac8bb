"""The chat's and accounts' database tests (tests/test_chat.py,
tests/test_accounts.py) run again, on the PostgreSQL of this machine.

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

import pytest

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DATABASE_TEST_FILES = ["tests/test_chat.py", "tests/test_accounts.py"]


def admin_connection():
    import psycopg

    try:
        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.fail(f"this test needs PostgreSQL at {POSTGRES_URL} ({error}); start it or set TEST_POSTGRES_URL")


def test_chat_and_account_database_tests_pass_on_postgresql():
    admin_connection().close()
    name = f"chat_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", *DATABASE_TEST_FILES, "-q", "-p", "no:cacheprovider",
             "--reuse-db"],
            cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"the database tests fail on PostgreSQL:\n{output[-6000:]}"
        assert " passed" in output and "skipped" not in output, output[-2000:]
        with admin_connection() as connection:
            databases = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
            assert f"test_{name}" in databases, "the run did not use PostgreSQL"
    finally:
        with admin_connection() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "test_{name}" WITH (FORCE)')
