"""What `make chaos` runs and breaks, all of its own: a private PostgreSQL
cluster, Redis as a master, a replica and three Sentinels (the channel layer
finds the master through them), and two `python -m realtime.server`
processes on fixed ports (restarted where their clients expect them).
Nothing shared is touched: every process here is started, stopped and
killed by its PID."""

import os
import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.support.paths import PYTHON, ROOT
from tests.support.ports import free_port
from tests.support.postgres import PrivateCluster, database_url
from tests.support.redis_servers import MASTER_NAME, RedisProcesses
from tests.support.servers import DaphneProcess, server_environment

# A 3 s kill of the master must not trigger a failover (that is a fault of
# its own): the Sentinels wait this long before calling the master down.
SENTINEL_DOWN_AFTER_MS = 10000


class Topology:
    def __init__(self, workdir, log):
        self.workdir = Path(workdir)
        self.log = log
        self.cluster = None
        self.redis = None
        self.sentinels = []
        self.data_ports = []
        self.servers = []
        self.ports = []
        self.env = None

    # -- start and stop ----------------------------------------------------------------

    def start(self):
        self.log("starting a private PostgreSQL")
        self.cluster = PrivateCluster()
        import psycopg

        with psycopg.connect(self.cluster.url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE chaos")
        self.database_url = database_url(self.cluster.url, "chaos")
        migrate = subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": self.database_url},
            capture_output=True,
            text=True,
            timeout=180,
        )
        if migrate.returncode:
            raise RuntimeError(f"migrate failed: {migrate.stderr[-2000:]}")

        self.log("starting Redis: a master, a replica, three Sentinels")
        self.redis = RedisProcesses(self.workdir)
        master = self.redis.start_server()
        replica = self.redis.start_server("--replicaof", "127.0.0.1", str(master))
        self.data_ports = [master, replica]
        self.sentinels = [self.redis.start_sentinel(master, 2, SENTINEL_DOWN_AFTER_MS) for _ in range(3)]
        self.wait_for_sentinels(master)

        self.env = server_environment(
            self.database_url,
            REDIS_SENTINELS=",".join(f"127.0.0.1:{port}" for port in self.sentinels),
            REDIS_SENTINEL_MASTER=MASTER_NAME,
            CHANNEL_LAYER_PREFIX=f"chaos{os.getpid()}",
            # The clients post every 100-300 ms: the per-user limit would refuse most.
            CHAT_POST_RATE_COUNT=0,
            # Persistent connections, as in production: a PostgreSQL restart cuts them.
            DATABASE_CONN_MAX_AGE=60,
        )
        self.ports = [free_port(), free_port()]
        self.servers = [None, None]
        for index in (0, 1):
            self.start_server(index)

    def start_server(self, index):
        log_path = self.workdir / f"server-{index}.log"
        self.servers[index] = DaphneProcess(self.env, log_path, port=self.ports[index], append_log=True)

    def stop(self):
        for server in self.servers:
            if server is not None:
                if server.process.poll() is None:
                    server.process.send_signal(signal.SIGCONT)
                server.stop()
        if self.redis is not None:
            self.redis.stop_all()
        if self.cluster is not None:
            self.cluster.stop()

    # -- Redis through the Sentinels ---------------------------------------------------

    def sentinel(self):
        return redis.Redis(port=self.sentinels[0], socket_timeout=2)

    def master_port(self):
        host, port = self.sentinel().sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(port)

    def kill_redis(self):
        """kill -9 every Redis server (the master and its replica): the
        channel layer has nowhere to go. Returns the master's port."""
        master = self.master_port()
        for port in self.data_ports:
            self.redis.kill(port)
        return master

    def restart_redis(self, master):
        """Start them again where they were: the master first, as it was."""
        self.redis.start_server(port=master)
        for port in self.data_ports:
            if port != master:
                self.redis.start_server("--replicaof", "127.0.0.1", str(master), port=port)

    def wait_for_sentinels(self, master, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                replicas = self.sentinel().sentinel_slaves(MASTER_NAME)
                if self.master_port() == master and replicas:
                    return
            except redis.RedisError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the Sentinels never agreed on the master and its replica")

    def log_text(self, index):
        return (self.workdir / f"server-{index}.log").read_text(errors="replace")
