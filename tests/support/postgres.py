"""PostgreSQL for the tests: the server at TEST_POSTGRES_URL when one answers
there, otherwise a private cluster of this test run's own.

The private cluster is Debian's `postgresql` package (initdb and pg_ctl from
/usr/lib/postgresql/<version>/bin; scripts/ensure-postgres.sh installs it),
in a temporary directory, on a free loopback port, trust authentication for
the user `postgres`, and is stopped and deleted when the run ends: the same
way the Redis-topology tests run their own redis-server. initdb refuses to
run as root, so as root both it and the server run as the `postgres` user."""

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.ports import free_port

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
CONFIGURED_URL = os.environ.get("TEST_POSTGRES_URL", DEFAULT_URL)
# The unprivileged account the cluster runs as when the tests run as root.
CLUSTER_USER = os.environ.get("TEST_POSTGRES_OS_USER", "postgres")


class PostgresUnavailable(Exception):
    """Neither a server at the configured URL nor a private cluster: the
    message is one line saying what to install or start."""


def answers(url):
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True


def binaries():
    """The bin directory of the newest installed Debian PostgreSQL, or None."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    return Path(max(found, key=lambda path: int(Path(path).parts[-3]))).parent


class PrivateCluster:
    """initdb + pg_ctl start in a temporary directory; `stop()` undoes both."""

    def __init__(self):
        bindir = binaries()
        if bindir is None:
            raise PostgresUnavailable(
                f"no PostgreSQL answers at {CONFIGURED_URL} and Debian's postgresql package is not installed "
                "(no /usr/lib/postgresql/*/bin/initdb): `make test` installs it (scripts/ensure-postgres.sh), "
                "or set TEST_POSTGRES_URL"
            )
        self.pg_ctl = str(bindir / "pg_ctl")
        self.root = Path(tempfile.mkdtemp(prefix="test-postgres-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.as_user = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(CLUSTER_USER)
            except KeyError:
                self.remove()
                raise PostgresUnavailable(
                    f"the tests run as root and initdb refuses root, but there is no user {CLUSTER_USER!r} "
                    "to run the private PostgreSQL as (set TEST_POSTGRES_OS_USER)"
                ) from None
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self.as_user = ["runuser", "-u", CLUSTER_USER, "--"]
        self.run(
            str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        self.options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self.start_server()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start_server(self):
        """Start (again) on the same port and data: an outage's end."""
        self.run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", self.options, "-w", "-t", "60", "start")

    def stop_server(self):
        """Stop the server and keep its data: an outage's start."""
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=True,
        )

    def run(self, *command):
        result = subprocess.run([*self.as_user, *command], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            self.remove()
            said = " ".join(f"{result.stderr or result.stdout} {log}".split())
            raise PostgresUnavailable(f"starting a private PostgreSQL failed: {Path(command[0]).name}: {said}")

    def restart(self):
        """`pg_ctl restart -m fast`: every connection is cut, the server is
        back a moment later on the same port."""
        self.run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "-t", "60", "restart")

    def stop(self):
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        self.remove()

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server():
    """Yields an admin URL (user postgres, trust auth) of a PostgreSQL on
    loopback: the configured one if it answers, else a private cluster that
    is stopped on exit. Raises PostgresUnavailable with one line otherwise."""
    if answers(CONFIGURED_URL):
        yield CONFIGURED_URL
        return
    cluster = PrivateCluster()
    try:
        yield cluster.url
    finally:
        cluster.stop()


def database_url(admin_url, name):
    """The URL of database `name` on the server of `admin_url`."""
    return admin_url.rsplit("/", 1)[0] + "/" + name
