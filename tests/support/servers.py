"""Real servers for the tests: `python -m realtime.server` as a subprocess
on a loopback port, as `make run` starts it."""

import os
import signal
import subprocess
from pathlib import Path

from tests.support.paths import PYTHON, ROOT
from tests.support.ports import free_port, wait_for_port


def server_environment(database_url, **env):
    """The environment of a test server: this process's, minus its REDIS_URL
    (a test that gives none runs the in-memory layer), with the given SQLite
    (or other) database; `env` values override."""
    inherited = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
        **{key: str(value) for key, value in env.items()},
    }


class ServerProcess:
    """A server subprocess listening on a loopback port, its output kept in a
    log file; the benchmarks' pinned servers are made on this too."""

    def __init__(
        self, argv, env, log_path, port, name="server", timeout=15.0, preexec_fn=None, cwd=ROOT, append_log=False
    ):
        self.port = port
        self.command = argv
        self.log_path = Path(log_path)
        self.log = open(log_path, "ab" if append_log else "wb")
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )
        if not wait_for_port(self.port, timeout=timeout, process=self.process):
            output = self.output()
            self.stop()
            raise RuntimeError(f"{name} did not start ({' '.join(argv)}); its output:\n{output}")

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self):
        """Die without any cleanup, like a crashed process."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


class DaphneProcess(ServerProcess):
    """`python -m realtime.server` on a free loopback port (or `port`, so a
    test can restart a server where its clients expect it), as `make run`
    starts it."""

    def __init__(self, env, log_path, extra_args=(), port=None, append_log=False):
        port = port or free_port()
        argv = [
            PYTHON,
            "-m",
            "realtime.server",
            "-v",
            "1",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            *extra_args,
            "config.asgi:application",
        ]
        super().__init__(argv, env, log_path, port, name="Daphne", append_log=append_log)

    @property
    def http_url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}"
