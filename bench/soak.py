"""Soak: mixed load for --duration seconds (default 600) on 2 Daphne
processes (`python -m realtime.server`) sharing the Redis at REDIS_URL, with
each server's memory (RSS) sampled every --interval seconds (default 10).

The load, from one client process (bench/wsclient.py on uvloop, CPU 1):
- ticks: --time-clients sockets on /ws/time (the 1/s broadcast);
- mouse echo: --mouse-clients sockets on /ws/mouse, each sending a
  {"x", "y"} event --mouse-rate times a second and reading the echo;
- chat: --chat-members guests in one room and a logged-in poster posting
  every --chat-interval seconds (under the default per-user limit);
- churn: every sample, --churn of the tick sockets hang up and reconnect,
  so connection setup and teardown are soaked too.

Verdict: after --warmup seconds, a least-squares line through each server's
RSS samples; "no upward trend" when it rises less than 2 MiB (or 2% of its
mean) over the measured span. The JSON result feeds bench/plots.py, which
draws bench/results/soak_memory.png.

    .venv/bin/python -m bench.soak [--duration 600]
"""

import asyncio
import json
import os
import shlex
import time
import uuid

from bench.chat_members import Member, sign_up
from bench.common import (
    CLIENT_BOUND_SHARE,
    ClientCpu,
    load_average,
    machine_state,
    raise_open_file_limit,
    server_environment,
    write_result,
)
from bench.memory_trend import Counter, check_redis, trend
from bench.peers.registry import SERVERS
from bench.processes import Server
from bench.runner import argument_parser, result_head, run
from bench.wsclient import OP_TEXT, client_frame, close_all, connect, connect_many


class Soak:
    """The mixed load on two servers, its drivers and its samples."""

    def __init__(self, args, servers):
        self.args = args
        self.servers = servers
        self.ports = [server.port for server in servers]
        self.chat_path = f"/ws/chat/soak-{uuid.uuid4().hex[:8]}/"
        self.samples = []
        self.totals = {
            "ticks": 0,
            "mouse_echoes": 0,
            "chat_received": 0,
            "chat_posted": 0,
            "mouse_sent": 0,
            "reconnects": 0,
        }
        self.stop_at = None

    async def tickers(self, count, concurrency=100):
        return await connect_many(
            lambda i, port: Counter("127.0.0.1", port, "/ws/time"),
            count,
            "127.0.0.1",
            self.ports,
            concurrency=concurrency,
            timeout=30.0,
        )

    async def connect(self):
        args, ports = self.args, self.ports
        session = sign_up(ports[0], f"soak-{uuid.uuid4().hex[:8]}")
        self.ticking = await self.tickers(args.time_clients)
        self.mice = await connect_many(
            lambda i, port: Counter("127.0.0.1", port, "/ws/mouse"),
            args.mouse_clients,
            "127.0.0.1",
            ports,
            concurrency=100,
            timeout=30.0,
        )
        self.members = await connect_many(
            lambda i, port: Member("127.0.0.1", port, self.chat_path),
            args.chat_members,
            "127.0.0.1",
            ports,
            concurrency=100,
            timeout=30.0,
        )
        self.poster = await connect(
            lambda: Member("127.0.0.1", ports[0], self.chat_path, [f"Cookie: sessionid={session}"]),
            "127.0.0.1",
            ports[0],
        )
        print(
            f"soak: {args.duration:g} s on ports {ports} (pids {[s.process.pid for s in self.servers]}), "
            f"{len(self.ticking)} tick + {len(self.mice)} mouse + {len(self.members)} chat sockets, "
            f"load average {load_average()}",
            flush=True,
        )

    async def drive_mice(self):
        frames = [client_frame(OP_TEXT, json.dumps({"x": i % 800, "y": i % 600})) for i in range(64)]
        index = 0
        while time.monotonic() < self.stop_at:
            for mouse in self.mice:
                if mouse.is_open:
                    mouse.send_raw(frames[index % len(frames)])
                    self.totals["mouse_sent"] += 1
            index += 1
            await asyncio.sleep(1.0 / self.args.mouse_rate)

    async def drive_chat(self):
        index = 0
        while time.monotonic() < self.stop_at:
            self.poster.send_text(
                json.dumps({"action": "post", "text": f"soak message {index}", "client_id": f"soak-{index}"})
            )
            self.totals["chat_posted"] += 1
            index += 1
            await asyncio.sleep(self.args.chat_interval)

    async def churn(self, at):
        """Hang up --churn tick sockets from `at` on and open as many anew;
        where the next churn starts."""
        churn = self.args.churn
        leaving = self.ticking[at : at + churn]
        for client in leaving:
            client.close()
        fresh = await self.tickers(len(leaving), concurrency=50)
        self.totals["ticks"] += sum(client.count for client in leaving)
        self.ticking[at : at + churn] = fresh
        self.totals["reconnects"] += len(fresh)
        return (at + churn) % max(1, len(self.ticking) - churn)

    def sample(self, started, cpu):
        for mouse in self.mice:
            self.totals["mouse_echoes"] += mouse.count
            mouse.count = 0
        rss = [round(server.rss_bytes() / 2**20, 2) for server in self.servers]
        sample = {
            "t": round(time.monotonic() - started, 1),
            "rss_mib": rss,
            "client_cpu_share": round(cpu.share(), 3),
            "open_sockets": sum(1 for c in self.ticking + self.mice + self.members if c.is_open),
            "load_average": load_average()[0],
            **{f"rss_mib_{index}": value for index, value in enumerate(rss)},
        }
        cpu.reset()
        self.samples.append(sample)
        print(
            f"  t={sample['t']:6.0f}s RSS {sample['rss_mib']} MiB, open {sample['open_sockets']}, "
            f"client CPU {sample['client_cpu_share']:.0%}, load {sample['load_average']}",
            flush=True,
        )

    async def run(self):
        await self.connect()
        started = time.monotonic()
        self.stop_at = started + self.args.duration
        drivers = [asyncio.create_task(self.drive_mice()), asyncio.create_task(self.drive_chat())]
        churn_at = 0
        cpu = ClientCpu()
        while time.monotonic() < self.stop_at:
            await asyncio.sleep(self.args.interval)
            churn_at = await self.churn(churn_at)
            self.sample(started, cpu)
        for task in drivers:
            task.cancel()
        self.totals["ticks"] += sum(client.count for client in self.ticking)
        self.totals["chat_received"] = sum(len(m.received) for m in self.members)
        await close_all(self.ticking + self.mice + self.members + [self.poster])


def verdict(args, samples, count):
    trends = [trend(samples, f"rss_mib_{index}", args.warmup) for index in range(count)]
    # A second view that needs no chosen warm-up: the trend over the last half.
    half = samples[-1]["t"] / 2 if samples else 0
    last_half = [trend(samples, f"rss_mib_{index}", half) for index in range(count)]
    busy = [s["client_cpu_share"] for s in samples]
    for index, item in enumerate(trends):
        print(f"  server {index}: after {args.warmup:g} s warm-up: {item}")
        print(f"  server {index}: last half of the run: {last_half[index]}")
    return {
        "trend_after_warmup": trends,
        "trend_last_half": last_half,
        "no_upward_trend_last_half": all(t and t["no_upward_trend"] for t in last_half),
        "no_upward_trend": all(t and t["no_upward_trend"] for t in trends),
        "client_cpu_share_max": max(busy) if busy else None,
        "client_bound": bool(busy) and max(busy) > CLIENT_BOUND_SHARE,
    }


async def main(args):
    check_redis(args.redis_url)
    state = machine_state()
    total_sockets = args.time_clients + args.mouse_clients + args.chat_members + 10
    state["open_file_limit"] = raise_open_file_limit(total_sockets + 1024)
    prefix = f"bench-soak-{uuid.uuid4().hex[:8]}"
    env = server_environment(REDIS_URL=args.redis_url, CHANNEL_LAYER_PREFIX=prefix)
    servers = [Server(f"soak-{index}", SERVERS["ours"].argv(), env, cpus=args.server_cpus) for index in range(2)]
    soak = Soak(args, servers)
    try:
        await soak.run()
    finally:
        for server in servers:
            server.stop()
    print(f"  totals: {soak.totals}")
    result = verdict(args, soak.samples, len(servers))
    print(
        f"  verdict: {'no upward trend' if result['no_upward_trend'] else 'MEMORY GROWS'}; "
        f"client CPU max {result['client_cpu_share_max']:.0%}{' CLIENT-BOUND' if result['client_bound'] else ''}"
    )
    path = write_result(
        args.output,
        {
            **result_head("soak", args, state),
            "parameters": dict(vars(args)),
            "server_command": f"REDIS_URL={args.redis_url} CHANNEL_LAYER_PREFIX={prefix} "
            + " ".join(shlex.quote(part) for part in servers[0].command),
            "totals": soak.totals,
            "samples": soak.samples,
            **result,
        },
    )
    print(f"written {os.path.relpath(path)}")


def parse_args(argv=None):
    parser = argument_parser(__doc__, "soak", duration=600.0, redis=True)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=120.0)
    parser.add_argument("--time-clients", type=int, default=2000)
    parser.add_argument("--mouse-clients", type=int, default=100)
    parser.add_argument("--mouse-rate", type=float, default=10.0, help="events per second per mouse socket")
    parser.add_argument("--chat-members", type=int, default=200)
    parser.add_argument("--chat-interval", type=float, default=2.0)
    parser.add_argument("--churn", type=int, default=50, help="tick sockets reconnected per sample")
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
