"""The fan-out benchmark's load client as groups of sockets, in this process
or in child processes (`--client-processes`): one process's open-file limit
(20,000 here, hard) cannot hold 20,000 sockets and its own files, so the
client splits over processes, each pinned to the client core.

A group opens its sockets (bench/wsclient.py raw sockets with kernel receive
timestamps, read in batches by a ReadPump), says the latest tick any of them
has seen, samples its own CPU time while measuring, and hands back every
socket's received frames. LocalGroup runs in this process; RemoteGroup runs
a LocalGroup in a spawned child and speaks to it over a pipe.
"""

import asyncio
import json
import multiprocessing
import time

from bench.common import ClientCpu, install_uvloop, pin_self, raise_open_file_limit
from bench.wsclient import ReadPump, open_many_raw


class CpuSampler:
    """(wall time, process CPU seconds) every `interval` seconds, to tell how
    busy the client was around each tick."""

    def __init__(self, interval=0.005, samples=None):
        self.interval = interval
        self.samples = samples if samples is not None else []
        self.task = None

    async def run(self):
        while True:
            self.samples.append((time.time(), ClientCpu.cpu_seconds()))
            await asyncio.sleep(self.interval)

    def start(self):
        self.task = asyncio.ensure_future(self.run())

    async def stop(self):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass

    def busy_share(self, start, end):
        """CPU share between the last sample at or before `start` and the first
        at or after `end`."""
        before = [s for s in self.samples if s[0] <= start]
        after = [s for s in self.samples if s[0] >= end]
        if not before or not after:
            return None
        (t0, c0), (t1, c1) = before[-1], after[0]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else None


class BusiestSampler:
    """busy_share over several client processes: the busiest one's."""

    def __init__(self, samplers):
        self.samplers = samplers

    def busy_share(self, start, end):
        shares = [share for s in self.samplers if (share := s.busy_share(start, end)) is not None]
        return max(shares) if shares else None


class LocalGroup:
    def __init__(self, read_interval, source=None):
        self.source = source  # the address its sockets connect from (None: the kernel's choice)
        self.pump = ReadPump(interval=read_interval)
        self.sampler = CpuSampler()
        self.clients = []
        self.cpu = None

    async def connect(self, count, ports, path, concurrency):
        self.pump.start()
        self.clients, errors = await open_many_raw(
            count,
            "127.0.0.1",
            ports,
            path,
            self.pump,
            concurrency=concurrency,
            timeout=30.0,
            source=self.source,
            tolerate=True,
        )
        # Counted, not raised: how many could not connect is a result too.
        return {"failed": len(errors), "errors": sorted({repr(error) for error in errors})[:5]}

    async def latest_seq(self):
        """The latest tick seen by any socket, once each has seen one since
        this call (10 s at most). What came before is dropped."""
        for client in self.clients:
            client.forget()
        deadline = time.time() + 10.0
        while time.time() < deadline and not all(client.has_data() for client in self.clients):
            await asyncio.sleep(0.1)
        seen = []
        for client in self.clients:
            messages, _ = client.messages()
            if messages:
                seen.append(json.loads(messages[0][3])["seq"])
        return max(seen) if seen else None

    async def measure(self):
        self.cpu = ClientCpu()
        self.sampler.start()

    async def collect(self, until):
        """Wait until wall time `until`; every socket's (port, [(arrived,
        read, payload)], close code), the sockets the server closed, the CPU
        samples and share. Closes the sockets."""
        await asyncio.sleep(max(0.0, until - time.time()))
        share = self.cpu.share()
        await self.sampler.stop()
        await self.pump.stop()
        received = []
        closed = 0
        for client in self.clients:
            messages, close_code = client.messages()
            received.append(
                (client.port, [(arrived, read, payload) for arrived, read, _, payload in messages], close_code)
            )
            # Closed by the server: a close frame, or the TCP connection ended.
            closed += close_code is not None or client.eof
        for client in self.clients:
            client.close()
        await asyncio.sleep(0.2)  # let the servers read the close frames
        return {"received": received, "closed": closed, "samples": self.sampler.samples, "cpu_share": share}


def child_main(pipe, read_interval, client_cpu, client_nice, sockets, source=None):
    """A client process: a LocalGroup driven by commands from the pipe."""
    pin_self(client_cpu, client_nice)
    raise_open_file_limit(sockets + 1024)
    install_uvloop()

    async def serve():
        group = LocalGroup(read_interval, source)
        loop = asyncio.get_running_loop()
        while True:
            command, *arguments = await loop.run_in_executor(None, pipe.recv)
            try:
                answer = await getattr(group, command)(*arguments)
            except Exception as error:  # sent to the parent, which raises it
                pipe.send(("error", repr(error)))
                return
            pipe.send(("ok", answer))
            if command == "collect":
                return

    asyncio.run(serve())


class RemoteGroup:
    """A LocalGroup in a child process (spawned: no copy of this event loop)."""

    def __init__(self, read_interval, client_cpu, sockets, client_nice=0, source=None):
        context = multiprocessing.get_context("spawn")
        self.pipe, child_end = context.Pipe()
        self.process = context.Process(
            target=child_main, daemon=True, args=(child_end, read_interval, client_cpu, client_nice, sockets, source)
        )
        self.process.start()

    async def call(self, *command):
        self.pipe.send(command)
        status, answer = await asyncio.to_thread(self.pipe.recv)
        if status == "error":
            raise RuntimeError(f"client process {self.process.pid}: {answer}")
        return answer

    async def connect(self, count, ports, path, concurrency):
        return await self.call("connect", count, ports, path, concurrency)

    async def latest_seq(self):
        return await self.call("latest_seq")

    async def measure(self):
        return await self.call("measure")

    async def collect(self, until):
        result = await self.call("collect", until)
        self.process.join(10)
        return result

    def stop(self):
        if self.process.is_alive():
            self.process.kill()
