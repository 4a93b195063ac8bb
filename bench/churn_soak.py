"""Churn soak: --steady sockets held open on one server process (Redis
channel layer at REDIS_URL) while --rate connections a second are opened,
used and closed, for --duration seconds (default 240), the server's memory
(RSS) sampled every --interval seconds.

What does not stay: each churned connection is one of /ws/echo (a message
and its echo), /ws/time (one tick), /ws/chat/<room>/ (joined as a guest),
/ws/mouse (an event and its echo), or one that drops TCP without a close
frame. The steady ones are /ws/time sockets, counting their ticks.

Verdict (as bench.soak's): after --warmup seconds, a least-squares line
through the RSS samples; "no upward trend" when it rises less than 2 MiB
(or 2% of its mean) over the measured span. A closed connection left in a
reference cycle waits for the full collection (every
REALTIME_GC_FULL_SECONDS, 300 s) and shows here as a steady rise.

    .venv/bin/python -m bench.churn_soak [--duration 240]
"""

import asyncio
import json
import os
import shlex
import time
import uuid

import websockets

from bench.common import ClientCpu, load_average, machine_state, raise_open_file_limit, server_environment, write_result
from bench.memory_trend import Counter, check_redis, trend
from bench.peers.registry import SERVERS
from bench.processes import Server
from bench.runner import argument_parser, result_head, run
from bench.wsclient import close_all, connect_many

KINDS = ("echo", "time", "chat", "mouse", "dropped")


async def use_and_close(base, kind, number, room):
    if kind == "echo":
        async with websockets.connect(f"{base}/ws/echo") as ws:
            await ws.send(f"churn {number}")
            await ws.recv()
    elif kind == "time":
        async with websockets.connect(f"{base}/ws/time") as ws:
            await ws.recv()
    elif kind == "chat":
        async with websockets.connect(f"{base}/ws/chat/{room}/") as ws:
            await ws.recv()  # "joined"
    elif kind == "mouse":
        async with websockets.connect(f"{base}/ws/mouse") as ws:
            await ws.send(json.dumps({"x": number % 800, "y": number % 600}))
            await ws.recv()
    elif kind == "dropped":
        ws = await websockets.connect(f"{base}/ws/echo")
        await ws.send("then gone")
        await ws.recv()
        ws.transport.abort()


class ChurnSoak:
    """The steady sockets, the churn and the samples of one server."""

    def __init__(self, args, server):
        self.args = args
        self.server = server
        self.base = f"ws://127.0.0.1:{server.port}"
        self.room = f"churn-{uuid.uuid4().hex[:8]}"
        self.samples = []
        self.totals = {"churned": 0, "churn_failed": 0, "steady_ticks": 0}
        self.failures = {}
        self.running = set()
        self.stop_at = None

    def finished(self, task):
        self.running.discard(task)
        if task.exception() is None:
            self.totals["churned"] += 1
            return
        self.totals["churn_failed"] += 1
        name = type(task.exception()).__name__
        self.failures[name] = self.failures.get(name, 0) + 1

    async def churn(self):
        number = 0
        next_at = time.monotonic()
        while time.monotonic() < self.stop_at:
            use = use_and_close(self.base, KINDS[number % len(KINDS)], number, self.room)
            task = asyncio.ensure_future(asyncio.wait_for(use, 30))
            self.running.add(task)
            task.add_done_callback(self.finished)
            number += 1
            next_at += 1.0 / self.args.rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    def sample(self, started, cpu, steady):
        sample = {
            "t": round(time.monotonic() - started, 1),
            "rss_mib": round(self.server.rss_bytes() / 2**20, 2),
            "churned": self.totals["churned"],
            "steady_open": sum(1 for client in steady if client.is_open),
            "client_cpu_share": round(cpu.share(), 3),
            "load_average": load_average()[0],
        }
        cpu.reset()
        self.samples.append(sample)
        print(
            f"  t={sample['t']:6.0f}s RSS {sample['rss_mib']} MiB, churned {sample['churned']}, "
            f"steady open {sample['steady_open']}, client CPU {sample['client_cpu_share']:.0%}",
            flush=True,
        )

    async def run(self):
        args = self.args
        steady = await connect_many(
            lambda i, port: Counter("127.0.0.1", port, "/ws/time"),
            args.steady,
            "127.0.0.1",
            [self.server.port],
            concurrency=100,
            timeout=30.0,
        )
        print(
            f"churn soak: {args.duration:g} s on port {self.server.port} (pid {self.server.process.pid}), "
            f"{len(steady)} steady sockets, {args.rate:g} connections a second, load average {load_average()}",
            flush=True,
        )
        started = time.monotonic()
        self.stop_at = started + args.duration
        churner = asyncio.create_task(self.churn())
        cpu = ClientCpu()
        while time.monotonic() < self.stop_at:
            await asyncio.sleep(args.interval)
            self.sample(started, cpu, steady)
        await churner
        if self.running:
            await asyncio.wait(set(self.running), timeout=30)
        self.totals["steady_ticks"] = sum(client.count for client in steady)
        await close_all(steady)


def verdict(args, samples):
    after_warmup = trend(samples, "rss_mib", args.warmup)
    measured = [s["rss_mib"] for s in samples if s["t"] >= args.warmup]
    result = {
        "rss_growth_after_warmup_mib": round(measured[-1] - measured[0], 2) if measured else None,
        "trend_after_warmup": after_warmup,
        "trend_last_half": trend(samples, "rss_mib", samples[-1]["t"] / 2 if samples else 0),
        "no_upward_trend": bool(after_warmup and after_warmup["no_upward_trend"]),
    }
    print(f"  after {args.warmup:g} s warm-up: {after_warmup}; last half: {result['trend_last_half']}")
    print(f"  verdict: {'no upward trend' if result['no_upward_trend'] else 'MEMORY GROWS'}")
    return result


async def main(args):
    check_redis(args.redis_url)
    state = machine_state()
    state["open_file_limit"] = raise_open_file_limit(args.steady + int(10 * args.rate) + 1024)
    prefix = f"bench-churn-{uuid.uuid4().hex[:8]}"
    env = server_environment(REDIS_URL=args.redis_url, CHANNEL_LAYER_PREFIX=prefix)
    server = Server("churn-soak", SERVERS["ours"].argv(), env, cpus=args.server_cpus)
    soak = ChurnSoak(args, server)
    try:
        await soak.run()
    finally:
        server.stop()
    print(f"  totals: {soak.totals}, failures: {soak.failures}")
    path = write_result(
        args.output,
        {
            **result_head("churn_soak", args, state),
            "parameters": dict(vars(args)),
            "server_command": f"REDIS_URL={args.redis_url} CHANNEL_LAYER_PREFIX={prefix} "
            + " ".join(shlex.quote(part) for part in server.command),
            "totals": soak.totals,
            "churn_failures": soak.failures,
            "samples": soak.samples,
            **verdict(args, soak.samples),
        },
    )
    print(f"written {os.path.relpath(path)}")


def parse_args(argv=None):
    parser = argument_parser(__doc__, "churn_soak", duration=240.0, redis=True)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=60.0)
    parser.add_argument("--steady", type=int, default=500, help="sockets held open all along")
    parser.add_argument("--rate", type=float, default=40.0, help="connections opened, used and closed a second")
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
