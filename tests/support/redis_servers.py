"""Redis processes of a test's own (servers, sentinels) and what tests need
to reason about them: which shard channels-redis puts a name on, and a
reader of /ws/time that keeps every tick's arrival time and seq."""

import asyncio
import binascii
import json
import shutil
import signal
import subprocess
import time
import uuid

import pytest
import websockets

from tests.support.ports import free_port, wait_for_port

REDIS_SERVER = shutil.which("redis-server")
MASTER_NAME = "topology-master"


def redis_server_command(port, workdir, *extra):
    """A throwaway redis-server on loopback: nothing saved, `workdir` its own."""
    if REDIS_SERVER is None:
        pytest.fail("this test needs redis-server on PATH: `make test` installs it (scripts/ensure-redis.sh)")
    return [
        REDIS_SERVER,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        *extra,
    ]


class OwnRedis:
    """One redis-server on a port of its own that a test may stop and start
    again on the same port (an outage and a recovery)."""

    def __init__(self, workdir):
        self.port, self.workdir, self.process = free_port(), workdir, None

    def start(self):
        self.process = subprocess.Popen(
            redis_server_command(self.port, self.workdir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for_port(self.port, process=self.process), "redis-server did not start"

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class RedisProcesses:
    """Starts redis-server / sentinel processes and stops them all at the end."""

    def __init__(self, directory):
        self.directory = directory
        self.processes = {}

    def start_server(self, *extra, port=None):
        """A redis-server (on `port`: started again where it was)."""
        port = port or free_port()
        workdir = self.directory / f"redis-{port}"
        workdir.mkdir(exist_ok=True)
        process = subprocess.Popen(
            redis_server_command(port, workdir, *extra),
            stdout=open(workdir / "log", "ab"),
            stderr=subprocess.STDOUT,
        )
        assert wait_for_port(port, process=process), (workdir / "log").read_text()
        self.processes[port] = process
        return port

    def start_sentinel(self, master_port, quorum, down_after_ms=1000):
        port = free_port()
        config = self.directory / f"sentinel-{port}.conf"  # sentinel rewrites its config: must be writable
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} {quorum}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}\n"
            f"sentinel failover-timeout {MASTER_NAME} 5000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        sentinel = shutil.which("redis-sentinel")
        command = [sentinel, str(config)] if sentinel else [REDIS_SERVER, str(config), "--sentinel"]
        process = subprocess.Popen(command, stdout=open(f"{config}.log", "wb"), stderr=subprocess.STDOUT)
        assert wait_for_port(port, process=process), open(f"{config}.log").read()
        self.processes[port] = process
        return port

    def kill(self, port):
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()


def shard_of(name, shards):
    """channels-redis's consistent hash (channels_redis.utils._consistent_hash)."""
    if shards == 1:
        return 0
    return int((binascii.crc32(name.encode()) & 0xFFF) / (4096 / float(shards)))


def prefix_with_time_group_on(shard, shards):
    while True:
        prefix = f"topo-{uuid.uuid4().hex[:8]}"
        if shard_of(f"{prefix}__group__time", shards) == shard:
            return prefix


class TickReader:
    """Reads /ws/time in the background and keeps (arrival time, seq)."""

    def __init__(self, url):
        self.url = url
        self.ticks = []
        self.task = None

    async def run(self):
        async with websockets.connect(self.url) as ws:
            async for text in ws:
                self.ticks.append((time.time(), json.loads(text)["seq"]))

    def start(self):
        self.task = asyncio.create_task(self.run())
        return self

    async def wait_for_ticks(self, count, timeout):
        deadline = time.monotonic() + timeout
        target = len(self.ticks) + count
        while len(self.ticks) < target:
            if self.task.done():
                self.task.result()  # raises what ended it
                raise AssertionError("the tick socket closed")
            assert time.monotonic() < deadline, f"no {count} new ticks on {self.url} in {timeout}s: {self.ticks[-3:]}"
            await asyncio.sleep(0.05)
        return [seq for _, seq in self.ticks[-count:]]

    async def stop(self):
        self.task.cancel()
        try:
            await self.task
        except (asyncio.CancelledError, Exception):
            pass
