"""The benchmarked servers as subprocesses: a free loopback port, pinned
with `taskset`, scheduled as BENCH_SCHED says (bench/common.py), its output
in a log file, its CPU time and memory read through psutil over the whole
process tree (a server with worker processes, such as granian, counts
whole)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.common import ROOT, raise_priority

PYTHON = sys.executable


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout, process):
    """True once 127.0.0.1:`port` accepts a connection; False after `timeout`
    seconds or as soon as `process` (a Popen) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Server:
    """A server subprocess on a free loopback port (or `port`), pinned to
    `cpus` (a taskset list; None: not pinned). `argv` may say {python} and
    {port}."""

    def __init__(self, name, argv, env, cpus="0", port=None, log_dir=None, timeout=30.0):
        self.name = name
        self.port = port or free_port()
        argv = [part.format(port=self.port, python=PYTHON) for part in argv]
        if cpus is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", str(cpus), *argv]
        self.command = argv
        self.log_path = Path(log_dir or tempfile.gettempdir()) / f"bench-{name}-{self.port}.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=raise_priority
        )
        if not wait_for_port(self.port, timeout, self.process):
            output = self.output()
            self.stop()
            raise RuntimeError(f"{name} did not start ({' '.join(argv)}); its output:\n{output}")
        self.ps = psutil.Process(self.process.pid)
        self.cpu0 = self.wall0 = None

    def wait_listening(self, timeout=60.0):
        """Until this process itself listens on its port: with SO_REUSEPORT the
        port answers as soon as any process of the group listens."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if any(
                c.laddr.port == self.port and c.status == psutil.CONN_LISTEN for c in self.ps.net_connections("tcp")
            ):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} does not listen on {self.port}; its output:\n{self.output()[-2000:]}")

    def established(self):
        """Open client connections on its port, in the whole process tree."""
        count = 0
        for process in self.tree():
            try:
                count += sum(
                    1
                    for c in process.net_connections("tcp")
                    if c.laddr.port == self.port and c.status == psutil.CONN_ESTABLISHED
                )
            except psutil.Error:  # gone meanwhile
                continue
        return count

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGKILL)
                self.process.wait(10)
        self.log.close()

    def scheduling_in_effect(self):
        """The server's scheduling policy and niceness, read back from Linux."""
        try:
            policy = {os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_OTHER: "SCHED_OTHER"}.get(
                os.sched_getscheduler(self.process.pid), "other"
            )
            return f"{policy}, nice {os.getpriority(os.PRIO_PROCESS, self.process.pid)}"
        except OSError:
            return None

    def tree(self):
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.Error:
            return [self.ps]

    def cpu_seconds(self):
        total = 0.0
        for process in self.tree():
            try:
                times = process.cpu_times()  # all threads of the process
            except psutil.Error:  # gone meanwhile
                continue
            total += times.user + times.system
        return total

    def start_window(self):
        self.cpu0 = self.cpu_seconds()
        self.wall0 = time.monotonic()

    def window_share(self):
        return (self.cpu_seconds() - self.cpu0) / (time.monotonic() - self.wall0)

    def rss_bytes(self):
        total = 0
        for process in self.tree():
            try:
                total += process.memory_info().rss
            except psutil.Error:  # gone meanwhile
                continue
        return total
