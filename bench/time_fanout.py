"""Time fan-out: /ws/time with many subscribed clients spread over 2 Daphne
processes (this project's `python -m realtime.server`) sharing the real Redis
as channel layer (REDIS_URL, a CHANNEL_LAYER_PREFIX of this run's own).

Longer than 400 lines: one benchmark, read top to bottom (ours and the
peers' servers, the clients, the per-tick measurement, the report).

For every tick each client receives it measures the delivery latency: the
client's receive time minus the tick's `iso` (the moment the publisher sent
it; same clock, same machine). The receive time is the kernel's arrival
timestamp on the client's socket (SO_TIMESTAMPNS), so the client's own
scheduling cannot inflate it; the time the client's code read each message
is reported next to it (bench/wsclient.py TimestampedReader). Over `--ticks` consecutive ticks (default 60)
it counts, per client, lost ticks (a `seq` missing: seq is the tick's Unix
second, so consecutive ticks differ by 1) and duplicated ticks (a `seq` seen
twice). Targets: 0 lost, 0 duplicated, and the p99 below.

Each server process has a core of its own (`--server-cpus 0/1`: ours is
two processes on a two-core machine, the way it is deployed; a one-process
peer may use both). The load client (bench/wsclient.py, in child processes)
is not pinned and runs at niceness 19 (`--client-cpu any --client-nice 19`):
it shares the cores but yields to the servers, and since the latency is the
kernel's arrival time, its own delay in reading does not count. (The earlier
layout, both servers on core 0 and the client on core 1, is
`--server-cpus 0 --client-cpu 1 --client-nice 0`.) The client samples its own
CPU time every few milliseconds; for each tick it reports how busy it was
between the tick's publication and its last delivery (its CPU share in that
window), and marks the figure client-bound if that exceeded 80% (the client,
not the server, may then have delayed the deliveries).

    .venv/bin/python -m bench.time_fanout [--sockets 3000] [--ticks 60]

`--sockets 1000,3000,10000` runs several sizes, each with fresh servers;
`--sockets 20000` splits the client over as many processes as its open-file
limit needs (`--client-processes N` to choose), all on the client core.
Targets: p99 <= 100 ms to 10,000 sockets, <= 300 ms at 20,000.

`--servers ours,websockets,gorilla` measures peers at the same sizes with
the same client: a raw `websockets` time server on uvloop
(bench/peers/websockets_time.py) and gorilla/websocket's hub
(bench/peers/gorilla_echo/time.go), each ONE process with no Redis, on the
same server cores; ours is --processes (2) processes sharing Redis.
Scheduling: the ordinary one unless BENCH_SCHED says otherwise (bench/common.py).
"""

import asyncio
import json
import os
import resource
import shlex
import sys
import time
import uuid
from datetime import datetime

from bench.common import (
    CLIENT_BOUND_SHARE,
    Server,
    competing_processes,
    load_average,
    machine_state,
    median,
    percentile,
    raise_open_file_limit,
    server_environment,
    write_result,
)
from bench.fanout_clients import BusiestSampler, CpuSampler, LocalGroup, RemoteGroup
from bench.runner import argument_parser, command_line, names_from, run

TARGET_P99_MS = 100.0


def target_p99_ms(sockets):
    """p99 <= 100 ms up to 10,000 sockets over 2 processes; 300 ms at 20,000."""
    return TARGET_P99_MS if sockets <= 10000 else 300.0


SERVER_ARGV = ["{python}", "-m", "realtime.server", "-v", "0", "-b", "127.0.0.1", "-p", "{port}",
               "config.asgi:application"]


def gorilla_argv():
    from bench.peers import go_binary

    return [str(go_binary("gorilla_echo", needs_gorilla=True)), "-addr", "127.0.0.1:{port}"]


# The servers --servers picks from. Ours runs --processes processes sharing
# Redis; each peer is one process with no Redis (its own in-memory hub), on
# the same server cores, measured by the same client.
FANOUT_SERVERS = {
    "ours": {"argv": lambda: SERVER_ARGV, "peer": False,
             "describe": "this project: realtime.server, /ws/time, Redis channel layer"},
    "websockets": {"argv": lambda: ["{python}", "-m", "bench.peers.websockets_time", "{port}"], "peer": True,
                   "describe": "a raw `websockets` time server on uvloop, websockets.broadcast, one process "
                               "(bench/peers/websockets_time.py)"},
    "gorilla": {"argv": gorilla_argv, "peer": True,
                "describe": "gorilla/websocket hub broadcasting a PreparedMessage, one process, Go "
                            "(bench/peers/gorilla_echo/time.go)"},
}


_iso_cache = {}


def iso_seconds(iso):
    value = _iso_cache.get(iso)
    if value is None:
        value = _iso_cache[iso] = datetime.strptime(iso.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    return value


def analyse(clients, first_seq, ticks, sampler):
    """`clients`: [(port, [(arrived, read, payload), ...], close_code)]."""
    expected = range(first_seq, first_seq + ticks)
    wanted = set(expected)
    per_tick = {seq: [] for seq in expected}
    read_latencies = []
    last_arrival = {}
    published = {}
    lost = duplicated = clients_with_loss = clients_with_duplicates = malformed = 0
    inconsistent = set()
    by_port = {}
    duplicated_seqs = {}  # seq -> clients that got it more than once
    lost_seqs = {}  # seq -> clients that never got it
    for port, messages, _ in clients:
        port_latencies = by_port.setdefault(port, [])
        seen = {}
        for arrived, read, payload in messages:
            try:
                tick = json.loads(payload)
                seq, iso = tick["seq"], tick["iso"]
                sent_at = iso_seconds(iso)
            except (ValueError, KeyError, TypeError):
                malformed += 1
                continue
            if seq not in wanted:
                continue
            seen[seq] = seen.get(seq, 0) + 1
            if published.setdefault(seq, sent_at) != sent_at:
                inconsistent.add(seq)  # two different ticks (isos) with one seq
            if seen[seq] > 1:
                continue  # a duplicate is counted, not timed twice
            per_tick[seq].append(arrived - sent_at)
            port_latencies.append(arrived - sent_at)
            read_latencies.append(read - sent_at)
            last_arrival[seq] = max(last_arrival.get(seq, 0.0), arrived)
        missing = ticks - len(seen)
        extra = sum(count - 1 for count in seen.values())
        for seq, count in seen.items():
            if count > 1:
                duplicated_seqs[seq] = duplicated_seqs.get(seq, 0) + 1
        for seq in expected:
            if seq not in seen:
                lost_seqs[seq] = lost_seqs.get(seq, 0) + 1
        lost += missing
        duplicated += extra
        clients_with_loss += missing > 0
        clients_with_duplicates += extra > 0

    tick_rows = []
    all_latencies = []
    for seq in expected:
        latencies = per_tick[seq]
        all_latencies.extend(latencies)
        busy = None
        if seq in published and seq in last_arrival:
            busy = sampler.busy_share(published[seq], last_arrival[seq])
        tick_rows.append({
            "seq": seq,
            "delivered": len(latencies),
            # The first delivery: publishing and the Redis hop, before any
            # fan-out work; the rest is the spread of the fan-out itself.
            "first_ms": ms(min(latencies) if latencies else None),
            "p50_ms": ms(percentile(latencies, 0.50)),
            "p99_ms": ms(percentile(latencies, 0.99)),
            "max_ms": ms(max(latencies) if latencies else None),
            "client_busy_share": round(busy, 3) if busy is not None else None,
        })
    busy_values = [row["client_busy_share"] for row in tick_rows if row["client_busy_share"] is not None]
    return {
        "latency_is": "kernel arrival time at the client's socket (SO_TIMESTAMPNS) minus the tick's iso",
        "deliveries": len(all_latencies),
        "expected_deliveries": len(clients) * ticks,
        "p50_ms": ms(percentile(all_latencies, 0.50)),
        "p99_ms": ms(percentile(all_latencies, 0.99)),
        "max_ms": ms(max(all_latencies) if all_latencies else None),
        "min_ms": ms(min(all_latencies) if all_latencies else None),
        # The same deliveries timed when the client's code read them: includes
        # the client's own scheduling; the gap to the above is the client's lag.
        "read_p50_ms": ms(percentile(read_latencies, 0.50)),
        "read_p99_ms": ms(percentile(read_latencies, 0.99)),
        "read_max_ms": ms(max(read_latencies) if read_latencies else None),
        "median_first_delivery_ms": rounded(median([row["first_ms"] for row in tick_rows
                                                    if row["first_ms"] is not None])),
        "worst_tick_p99_ms": max((row["p99_ms"] for row in tick_rows if row["p99_ms"] is not None), default=None),
        "per_process": [
            {"port": port, "deliveries": len(values), "p50_ms": ms(percentile(values, 0.5)),
             "p99_ms": ms(percentile(values, 0.99)), "max_ms": ms(max(values) if values else None)}
            for port, values in sorted(by_port.items())
        ],
        "lost": lost,
        "duplicated": duplicated,
        "lost_seqs": {str(seq): count for seq, count in sorted(lost_seqs.items())},
        "duplicated_seqs": {str(seq): count for seq, count in sorted(duplicated_seqs.items())},
        "clients_with_loss": clients_with_loss,
        "clients_with_duplicates": clients_with_duplicates,
        "malformed_messages": malformed,
        "ticks_with_inconsistent_payload": sorted(inconsistent),
        "client_busy_share_median": median(busy_values),
        "client_busy_share_max": max(busy_values) if busy_values else None,
        "client_bound_ticks": sum(1 for value in busy_values if value > CLIENT_BOUND_SHARE),
        "ticks": tick_rows,
    }


def ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 1)


def rounded(milliseconds):
    """A median of two figures in ms, to the same 0.1 ms as the rest."""
    return None if milliseconds is None else round(milliseconds, 1)


def client_split(sockets, args):
    """Sockets per client process: --client-processes, or (0, the default)
    as few as the open-file limit allows."""
    processes = args.client_processes
    if not processes:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        room = (1 << 20 if hard == resource.RLIM_INFINITY else hard) - 1024
        processes = max(1, -(-sockets // room))
    return [sockets // processes + (index < sockets % processes) for index in range(processes)]


async def run_size(sockets, args, name="ours"):
    spec = FANOUT_SERVERS[name]
    argv = spec["argv"]()  # a peer that is not installed raises NotInstalled
    if spec["peer"]:
        prefix = None
        env = server_environment()
        processes = 1
    else:
        prefix = f"bench-{uuid.uuid4().hex[:10]}"
        env = server_environment(REDIS_URL=args.redis_url, CHANNEL_LAYER_PREFIX=prefix)
        processes = args.processes
    servers = []
    split = client_split(sockets, args)
    if len(split) == 1 and not args.client_nice:
        groups = [LocalGroup(args.read_interval)]
    else:
        # A niced client runs in child processes, so that this process starts
        # the servers at the ordinary niceness.
        groups = [RemoteGroup(args.read_interval, args.client_cpu, count, args.client_nice) for count in split]
    try:
        for index in range(processes):
            servers.append(Server(f"time-{name}-{index}", argv, env,
                                  cpus=server_cpus(args.server_cpus, index, processes)))
        ports = [server.port for server in servers]
        scheduling = [server.scheduling_in_effect() for server in servers]
        connect_started = time.monotonic()
        await asyncio.gather(*(group.connect(count, ports, "/ws/time", args.concurrency)
                               for group, count in zip(groups, split, strict=True)))
        connect_seconds = time.monotonic() - connect_started
        print(f"  {sockets} sockets connected over ports {ports} (server pids "
              f"{[server.process.pid for server in servers]}) in {connect_seconds:.1f} s"
              f"{f', client in {len(split)} processes {split}' if len(split) > 1 else ''}", flush=True)

        # Start counting at the first tick every client can have subscribed
        # to: one after the latest tick any client has already seen.
        seen = [seq for seq in await asyncio.gather(*(group.latest_seq() for group in groups)) if seq is not None]
        first_seq = (max(seen) if seen else int(time.time())) + 1
        last_seq = first_seq + args.ticks - 1
        for server in servers:
            server.start_window()
        await asyncio.gather(*(group.measure() for group in groups))
        load_before = load_average()
        print(f"  measuring ticks {first_seq}..{last_seq} ({args.ticks} ticks)", flush=True)
        # Wait for the last tick, plus a grace period in which a late or
        # duplicated copy would still show up.
        await asyncio.sleep(max(0.0, last_seq + args.grace - time.time()))
        server_shares = [round(server.window_share(), 3) for server in servers]
        server_rss = [server.rss_bytes() for server in servers]
        load_after = load_average()
        competing = competing_processes()
        collected = await asyncio.gather(*(group.collect(time.time()) for group in groups))
    finally:
        for group in groups:
            if isinstance(group, RemoteGroup):
                group.stop()
        for server in servers:
            server.stop()
    received = [row for part in collected for row in part["received"]]
    closed = sum(part["closed"] for part in collected)
    client_share = max(part["cpu_share"] for part in collected)
    sampler = BusiestSampler([CpuSampler(samples=part["samples"]) for part in collected])
    result = analyse(received, first_seq, args.ticks, sampler)
    result.update({
        "server": name,
        "describe": spec["describe"],
        "sockets": sockets,
        "processes": processes,
        "channel_layer_prefix": prefix,
        "connect_seconds": round(connect_seconds, 2),
        "first_seq": first_seq,
        "ticks_measured": args.ticks,
        "client_cpu_share_average": round(client_share, 3),
        "server_cpu_share_average": server_shares,
        "server_rss_mib": [round(rss / 2**20, 1) for rss in server_rss],
        "connections_closed_by_server": closed,
        "client_processes": len(split),
        "server_scheduling": scheduling,
        "competing_processes_at_end": competing,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "server_command": (f"REDIS_URL={args.redis_url} CHANNEL_LAYER_PREFIX={prefix} " if prefix else "")
        + " ".join(shlex.quote(part) for part in servers[0].command),
    })
    result["client_bound"] = bool(result["client_bound_ticks"])
    result["meets_target"] = (
        result["p99_ms"] is not None and result["p99_ms"] <= target_p99_ms(sockets)
        and result["lost"] == 0 and result["duplicated"] == 0 and not closed
    )
    return result


def print_result(result):
    flag = " CLIENT-BOUND" if result["client_bound"] else ""
    print(
        f"  {result['server']}: {result['sockets']:>6} sockets / {result['processes']} "
        f"process{'es' if result['processes'] > 1 else ''}: "
        f"p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms  max {result['max_ms']} ms  "
        f"(worst tick p99 {result['worst_tick_p99_ms']} ms; first delivery of a tick, median "
        f"{result['median_first_delivery_ms']} ms)"
    )
    print(
        f"         as read by the client's code: p50 {result['read_p50_ms']} ms  p99 {result['read_p99_ms']} ms  "
        f"max {result['read_max_ms']} ms"
    )
    print("         per process: " + "; ".join(
        f"port {row['port']} p50 {row['p50_ms']} p99 {row['p99_ms']} ms" for row in result["per_process"]))
    print(
        f"         delivered {result['deliveries']}/{result['expected_deliveries']}  "
        f"lost {result['lost']} ({result['clients_with_loss']} clients)  "
        f"duplicated {result['duplicated']} ({result['clients_with_duplicates']} clients)  "
        f"closed by server {result['connections_closed_by_server']}"
    )
    for kind in ("lost_seqs", "duplicated_seqs"):
        if result[kind]:
            print(f"         {kind.replace('_', ' ')} (seq: clients): {result[kind]}")
    print(
        f"         client busy during deliveries: median {fmt_share(result['client_busy_share_median'])}, "
        f"max {fmt_share(result['client_busy_share_max'])}{flag}; client CPU over the run "
        f"{result['client_cpu_share_average']:.0%}; "
        f"server CPU {[f'{s:.0%}' for s in result['server_cpu_share_average']]}; "
        f"load {result['load_average_before'][0]:.2f}->{result['load_average_after'][0]:.2f}"
    )
    verdict = "MET" if result["meets_target"] else "MISSED"
    print(f"         target p99 <= {target_p99_ms(result['sockets']):g} ms, 0 lost, 0 duplicated: {verdict}",
          flush=True)


def fmt_share(value):
    return "n/a" if value is None else f"{value:.0%}"


async def main(args):
    import redis

    try:
        redis.Redis.from_url(args.redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        sys.exit(f"this benchmark needs a running Redis at {args.redis_url} ({error}); start one with "
                 "`redis-server --daemonize yes --port 6379` or pass --redis-url")
    state = machine_state()
    # Each socket is a file descriptor in the client and one in a server; a
    # one-process peer holds every socket. (Client processes, when the client
    # is split because the hard limit stays lower, raise their own.)
    limit = raise_open_file_limit(max(args.sockets) + 1024)
    per_process = max(max(client_split(n, args)) for n in args.sockets)
    state["open_file_limit"] = limit
    if limit < per_process + 256:
        sys.exit(f"the open-file limit is {limit}; {per_process} sockets in one client process need more "
                 "(raise the hard limit or pass --client-processes)")
    print(f"time fan-out: /ws/time, servers {', '.join(args.servers)} (ours: {args.processes} Daphne processes "
          f"+ Redis; a peer: one process) on CPU {args.server_cpus}, "
          f"client on CPU {'any' if args.client_cpu is None else args.client_cpu} at niceness {args.client_nice}, "
          f"Redis {args.redis_url}, {args.ticks} ticks per size")
    print(f"load average at start: {state['load_average_at_start']} (other work may share this machine); "
          f"scheduling: {state['scheduling']} "
          f"(client: {state['client_scheduling']})")
    if state["competing_processes_at_start"]:
        print("WARNING: other benchmark or real-time processes are running; they compete for the same cores "
              "and these figures may be meaningless:")
        for line in state["competing_processes_at_start"]:
            print(f"    {line}")
    from bench.peers import NotInstalled

    results = []
    not_installed = {}
    failed = {}
    for sockets in args.sockets:
        for name in args.servers:
            try:
                result = await run_size(sockets, args, name)
            except NotInstalled as missing:
                not_installed[name] = str(missing)
                print(f"  {name}: {missing}", flush=True)
                continue
            except Exception as error:
                if name == "ours":
                    raise
                # A peer is one process with this process's open-file limit:
                # at 20,000 sockets it may run out of descriptors. Its row
                # says so; ours and the other sizes still run.
                failed.setdefault(name, {})[str(sockets)] = f"{type(error).__name__}: {error}"
                print(f"  {name}: {sockets} sockets failed: {error}", flush=True)
                continue
            print_result(result)
            results.append(result)
    command = command_line()
    path = write_result(args.output, {
        "benchmark": "time_fanout",
        "command": command,
        "machine": state,
        "load_average_at_end": load_average(),
        "parameters": {
            "processes": args.processes, "ticks": args.ticks, "server_cpus": args.server_cpus,
            "client_cpu": args.client_cpu, "client_nice": args.client_nice, "redis_url": args.redis_url,
            "grace_seconds": args.grace,
            "latency": "client receive time minus the tick's iso (publish time)",
            "client": "bench/wsclient.py raw sockets with SO_TIMESTAMPNS, read in batches by ReadPump "
                      "(bench/fanout_clients.py; split over processes when one's open-file limit is too small)",
            "client_processes": args.client_processes or "as few as the open-file limit allows",
            "scheduling": state["scheduling"],
            "read_interval_seconds": args.read_interval,
            "client_bound_threshold": CLIENT_BOUND_SHARE,
        },
        "target": {"p99_ms": {str(n): target_p99_ms(n) for n in args.sockets}, "lost": 0, "duplicated": 0},
        "servers": {name: FANOUT_SERVERS[name]["describe"] for name in args.servers},
        "not_installed": not_installed,
        "failed": failed,
        "results": results,
    })
    print(f"written {os.path.relpath(path)}")
    return all(result["meets_target"] for result in results if result["server"] == "ours")


def server_cpus(spec, index, processes):
    """The taskset CPU list of server `index` of `processes`: --server-cpus
    "0" or "0,1" is every server's list; "0/1" gives server 0 core 0 and
    server 1 core 1 (one core each), and a one-process peer all of them."""
    lists = spec.split("/")
    if len(lists) == 1:
        return spec
    if processes == 1:
        return ",".join(lists)
    return lists[index % len(lists)]


def parse_args(argv=None):
    parser = argument_parser(__doc__, "time_fanout", redis=True)
    parser.add_argument("--sockets", default=[3000], type=lambda text: [int(n) for n in text.split(",") if n],
                        help="comma-separated socket counts (default 3000)")
    parser.add_argument("--servers", default=["ours"], type=names_from(FANOUT_SERVERS),
                        help="comma-separated servers to measure, each at every --sockets: "
                             f"{', '.join(FANOUT_SERVERS)} (default ours). Ours runs --processes processes "
                             "sharing Redis; each peer runs one process without Redis")
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--client-processes", type=int, default=0,
                        help="processes the load client is split over, all on --client-cpu "
                             "(default 0: as few as the open-file limit allows)")
    parser.add_argument("--client-nice", type=int, default=19,
                        help="niceness of the load client's processes (19: it yields to servers that "
                             "share its core; latency is the kernel's arrival time, so its own delay does "
                             "not count)")
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight while connecting")
    parser.add_argument("--grace", type=float, default=2.0, help="seconds to wait after the last tick")
    parser.add_argument("--read-interval", type=float, default=0.002,
                        help="seconds between the client's batched reads (latency uses kernel arrival times)")
    parser.set_defaults(server_cpus="0/1", client_cpu=None)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
