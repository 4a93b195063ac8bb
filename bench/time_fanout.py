"""Time fan-out: /ws/time with many subscribed clients spread over 2 Daphne
processes (this project's `python -m realtime.server`) sharing the real Redis
as channel layer (REDIS_URL, a CHANNEL_LAYER_PREFIX of this run's own).

For every tick each client receives it measures the delivery latency both
ways (bench/fanout_analysis.py): the kernel's arrival time at the client's
socket (SO_TIMESTAMPNS) and the moment the client's code read it, each minus
the tick's `iso`; over `--ticks` consecutive ticks (default 60) it counts
lost and duplicated ticks per client. Targets: 0 lost, 0 duplicated, and
the p99 below (on the kernel's arrival time).

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

`--servers ours,websockets,aiohttp,picows,granian,gorilla` measures peers
(bench/peers/registry.py) at the same sizes with the same client, each ONE
process with no Redis (its own in-memory hub; granian runs the stock
Channels consumer and the in-memory channel layer), on the same server
cores; ours is --processes (2) processes sharing Redis.
Scheduling: the ordinary one unless BENCH_SCHED says otherwise (bench/common.py).
"""

import os
import resource
import shlex
import sys
import uuid

from bench import fanout_run
from bench.common import machine_state, raise_open_file_limit, server_environment, write_result
from bench.fanout_analysis import analyse
from bench.peers.go import NotInstalled
from bench.peers.registry import FANOUT_ROWS, SERVERS
from bench.processes import Server
from bench.runner import argument_parser, names_from, result_head, run

TARGET_P99_MS = 100.0


def target_p99_ms(sockets):
    """p99 <= 100 ms up to 10,000 sockets over 2 processes; 300 ms at 20,000."""
    return TARGET_P99_MS if sockets <= 10000 else 300.0


def client_split(sockets, args):
    """Sockets per client process: --client-processes, or (0, the default)
    as few as the open-file limit allows."""
    processes = args.client_processes
    if not processes:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        room = (1 << 20 if hard == resource.RLIM_INFINITY else hard) - 1024
        processes = max(1, -(-sockets // room))
    return [sockets // processes + (index < sockets % processes) for index in range(processes)]


def start_servers(peer, args):
    """The servers of one size: ours, --processes processes sharing Redis
    under a channel-layer prefix of their own; a peer, one process. Returns
    (servers, prefix or None)."""
    argv = peer.argv()  # a peer that is not installed raises NotInstalled
    prefix = f"bench-{uuid.uuid4().hex[:10]}" if peer.redis else None
    env = server_environment(REDIS_URL=args.redis_url, CHANNEL_LAYER_PREFIX=prefix) if prefix else peer.env()
    count = args.processes if peer.redis else 1
    servers = []
    try:
        for index in range(count):
            servers.append(
                Server(f"time-{peer.name}-{index}", argv, env, cpus=server_cpus(args.server_cpus, index, count))
            )
    except BaseException:
        fanout_run.stop([], servers)
        raise
    return servers, prefix


async def run_size(sockets, args, peer):
    servers, prefix = start_servers(peer, args)
    split = client_split(sockets, args)
    groups = fanout_run.client_groups(split, args)
    try:
        scheduling = [server.scheduling_in_effect() for server in servers]
        window, collected = await fanout_run.measure(groups, split, [s.port for s in servers], servers, args)
    finally:
        fanout_run.stop(groups, servers)
    messages, closed, client_share, sampler = fanout_run.received(collected)
    result = analyse(messages, window["first_seq"], args.ticks, sampler)
    result.update(window)
    result.update(
        {
            "server": peer.name,
            "describe": peer.describe,
            "sockets": sockets,
            "processes": len(servers),
            "channel_layer_prefix": prefix,
            "ticks_measured": args.ticks,
            "client_cpu_share_average": round(client_share, 3),
            "connections_closed_by_server": closed,
            "client_processes": len(split),
            "server_scheduling": scheduling,
            "server_command": (f"REDIS_URL={args.redis_url} CHANNEL_LAYER_PREFIX={prefix} " if prefix else "")
            + " ".join(shlex.quote(part) for part in servers[0].command),
            "client_bound": bool(result["client_bound_ticks"]),
        }
    )
    result["meets_target"] = (
        result["p99_ms"] is not None
        and result["p99_ms"] <= target_p99_ms(sockets)
        and result["lost"] == 0
        and result["duplicated"] == 0
        and not closed
        and not result["not_connected"]
    )
    return result


def print_result(result):
    """The run of one server at one size, in a few lines."""
    flag = " CLIENT-BOUND" if result["client_bound"] else ""
    print(
        f"  {result['server']}: {result['sockets']:>6} sockets / {result['processes']} "
        f"process{'es' if result['processes'] > 1 else ''}: "
        f"at the client's kernel: p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms  max {result['max_ms']} ms  "
        f"(worst tick p99 {result['worst_tick_p99_ms']} ms; first delivery of a tick, median "
        f"{result['median_first_delivery_ms']} ms)"
    )
    print(
        f"         as read by the client's code: p50 {result['read_p50_ms']} ms  p99 {result['read_p99_ms']} ms  "
        f"max {result['read_max_ms']} ms"
    )
    print(
        "         per process: "
        + "; ".join(f"port {row['port']} p50 {row['p50_ms']} p99 {row['p99_ms']} ms" for row in result["per_process"])
    )
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
    print(
        f"         target p99 <= {target_p99_ms(result['sockets']):g} ms, 0 lost, 0 duplicated: {verdict}", flush=True
    )


def fmt_share(value):
    return "n/a" if value is None else f"{value:.0%}"


def check_redis(url):
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        sys.exit(
            f"this benchmark needs a running Redis at {url} ({error}); start one with "
            "`redis-server --daemonize yes --port 6379` or pass --redis-url"
        )


def print_header(args, state):
    print(
        f"time fan-out: /ws/time, servers {', '.join(args.servers)} (ours: {args.processes} Daphne processes "
        f"+ Redis; a peer: one process) on CPU {args.server_cpus}, "
        f"client on CPU {'any' if args.client_cpu is None else args.client_cpu} at niceness {args.client_nice}, "
        f"Redis {args.redis_url}, {args.ticks} ticks per size"
    )
    print(
        f"load average at start: {state['load_average_at_start']} (other work may share this machine); "
        f"scheduling: {state['scheduling']} (client: {state['client_scheduling']})"
    )
    if state["competing_processes_at_start"]:
        print(
            "WARNING: other benchmark or real-time processes are running; they compete for the same cores "
            "and these figures may be meaningless:"
        )
        for line in state["competing_processes_at_start"]:
            print(f"    {line}")


async def measure_all(args):
    """Every size, every server: (results, not installed, failed)."""
    results, not_installed, failed = [], {}, {}
    for sockets in args.sockets:
        for name in args.servers:
            try:
                result = await run_size(sockets, args, SERVERS[name])
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
    return results, not_installed, failed


async def main(args):
    check_redis(args.redis_url)
    state = machine_state()
    # Each socket is a file descriptor in the client and one in a server; a
    # one-process peer holds every socket. (Client processes, when the client
    # is split because the hard limit stays lower, raise their own.)
    state["open_file_limit"] = limit = raise_open_file_limit(max(args.sockets) + 1024)
    per_process = max(max(client_split(n, args)) for n in args.sockets)
    if limit < per_process + 256:
        sys.exit(
            f"the open-file limit is {limit}; {per_process} sockets in one client process need more "
            "(raise the hard limit or pass --client-processes)"
        )
    print_header(args, state)
    results, not_installed, failed = await measure_all(args)
    path = write_result(
        args.output,
        {
            **result_head(
                "time_fanout",
                args,
                state,
                server_processes=f"ours: {args.processes}, a core each; a peer: 1 on those cores",
            ),
            "parameters": {
                "processes": args.processes,
                "ticks": args.ticks,
                "redis_url": args.redis_url,
                "grace_seconds": args.grace,
                "read_interval_seconds": args.read_interval,
                "latency": "kernel arrival time at the client's socket minus the tick's iso (p50/p99/max_ms); "
                "the client's read time minus the tick's iso (read_*)",
                "client": "bench/wsclient.py raw sockets with SO_TIMESTAMPNS, read in batches by ReadPump "
                "(bench/fanout_clients.py; split over processes when one's open-file limit is too small)",
                "client_processes": args.client_processes or "as few as the open-file limit allows",
            },
            "target": {"p99_ms": {str(n): target_p99_ms(n) for n in args.sockets}, "lost": 0, "duplicated": 0},
            "servers": {name: SERVERS[name].describe for name in args.servers},
            "not_installed": not_installed,
            "failed": failed,
            "results": results,
        },
    )
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
    parser.add_argument(
        "--sockets",
        default=[3000],
        type=lambda text: [int(n) for n in text.split(",") if n],
        help="comma-separated socket counts (default 3000)",
    )
    parser.add_argument(
        "--servers",
        default=["ours"],
        type=names_from(SERVERS),
        help="comma-separated servers to measure, each at every --sockets (bench/peers/"
        f"registry.py; make bench: {','.join(FANOUT_ROWS)}; default ours). Ours runs "
        "--processes processes sharing Redis; each peer runs one process without Redis",
    )
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--client-processes",
        type=int,
        default=0,
        help="processes the load client is split over, all on --client-cpu "
        "(default 0: as few as the open-file limit allows)",
    )
    parser.add_argument(
        "--client-nice",
        type=int,
        default=19,
        help="niceness of the load client's processes (19: it yields to servers that "
        "share its core; latency is the kernel's arrival time, so its own delay does "
        "not count)",
    )
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight while connecting")
    parser.add_argument(
        "--connect-deadline",
        type=float,
        default=120.0,
        help="seconds a server has to accept every socket of a size, else that size failed (default %(default)s)",
    )
    parser.add_argument("--grace", type=float, default=2.0, help="seconds to wait after the last tick")
    parser.add_argument(
        "--read-interval",
        type=float,
        default=0.002,
        help="seconds between the client's batched reads (latency uses kernel arrival times)",
    )
    parser.set_defaults(server_cpus="0/1", client_cpu=None)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
