"""C100K: --sockets (default 100,000) /ws/time sockets connected to ONE
address, every tick delivered to every socket.

Server: --processes `python -m realtime.server` processes (default: as many
as hold at most 15,000 sockets each; a process's hard open-file limit is
20,000 here) listening on one port with REALTIME_REUSE_PORT=1 (the kernel
spreads the connections; realtime/server/reuse_port.py), sharing one Redis
(REDIS_URL, a channel-layer prefix of this run's own), not pinned
(`--server-cpus`), at the ordinary niceness (`--server-nice N` runs them
under `nice -n N`, so that the co-located clients go first, as clients on
machines of their own would).

Load client: bench/wsclient.py raw sockets with kernel receive timestamps
in --client-processes processes (default: at most 18,000 sockets each) at
the ordinary niceness (--client-nice), each connecting from its own
loopback address 127.0.0.<n> (`--sources`, default as many as the
processes): one source address has about 28,000 ephemeral ports towards one
server address. Not niced: at niceness 19 beside 7 busy servers the client
got ~1% of a core, could not answer the keepalive pings, and the servers
rightly dropped its sockets. --concurrency handshakes in flight per client
process (default 50): at 200 the queue of handshakes outlasted Daphne's 5 s
connect timeout (a 403) while the servers were busy with the ticks.

With --profile (the default), one server process is profiled with py-spy
during the ticks (bench/profiles.py): <output>.pyspy.top.txt.

Measured over --ticks ticks (bench/fanout_analysis.py): latency at the
client's kernel and when its code read it, lost and duplicated ticks,
sockets the server closed ("broken") and why, by the servers' own metrics
(each has a REALTIME_METRICS_PORT, read at the end: closes by code and
initiator, keepalive drops, slow-client closes), and the servers' RSS in all.
Targets: 0 lost, 0 broken, p99 <= 1 s, RSS <= 2.5 GiB in all.

    .venv/bin/python -m bench.c100k [--sockets 100000] [--ticks 10]

docs/SCALE.md says what a full run needs on this machine.
"""

import argparse
import os
import shlex
import uuid

from bench import fanout_run, profiles, server_metrics
from bench.common import load_average, machine_state, raise_open_file_limit, server_environment, write_result
from bench.fanout_analysis import analyse
from bench.peers.registry import SERVERS
from bench.processes import Server, free_port
from bench.runner import argument_parser, command_line, result_head, run

TARGET = {"not_connected": 0, "lost": 0, "broken": 0, "p99_ms": 1000.0, "server_rss_mib_total": 2.5 * 1024}
PER_SERVER = 15000
PER_CLIENT = 18000


def split(total, parts):
    return [total // parts + (index < total % parts) for index in range(parts)]


def start_servers(args, prefix):
    """--processes servers on one port, each listening before the next starts."""
    env = server_environment(REDIS_URL=args.redis_url, CHANNEL_LAYER_PREFIX=prefix, REALTIME_REUSE_PORT="1")
    port, servers = free_port(), []
    argv = SERVERS["ours"].argv()
    if args.server_nice:  # the clients first, as clients on machines of their own would be
        argv = ["nice", "-n", str(args.server_nice), *argv]
    try:
        for index in range(args.processes):
            # Each its own metrics port: at the end they say why they closed sockets.
            own = {**env, "REALTIME_METRICS_PORT": str(free_port())}
            servers.append(Server(f"c100k-{index}", argv, own, cpus=args.server_cpus, port=port))
            servers[-1].metrics_port = int(own["REALTIME_METRICS_PORT"])
            servers[-1].wait_listening()
    except BaseException:
        fanout_run.stop([], servers)
        raise
    return servers


def verdict(result):
    checks = {
        "not_connected": result["not_connected"] <= TARGET["not_connected"],
        "lost": result["lost"] <= TARGET["lost"],
        "broken": result["connections_closed_by_server"] <= TARGET["broken"],
        "p99_ms": result["p99_ms"] is not None and result["p99_ms"] <= TARGET["p99_ms"],
        "server_rss_mib_total": result["server_rss_mib_total"] <= TARGET["server_rss_mib_total"],
    }
    return checks, all(checks.values())


async def measure(args):
    prefix = f"bench-c100k-{uuid.uuid4().hex[:10]}"
    servers = start_servers(args, prefix)
    counts = split(args.sockets, args.client_processes)
    sources = [f"127.0.0.{2 + index % args.sources}" for index in range(len(counts))]
    groups = fanout_run.client_groups(counts, args, sources=sources)
    recording = []

    def profile_one_server(servers):
        if args.profile:
            recording.append(profiles.start(servers[0].process.pid, args.ticks, profiles.paths(args.output)[0]))

    try:
        window, collected = await fanout_run.measure(
            groups, counts, [servers[0].port] * len(servers), servers, args, at_window=profile_one_server
        )
        if recording:
            title = (
                f"py-spy of one of {len(servers)} server processes during {args.ticks} ticks "
                f"to {args.sockets:,} sockets ({command_line()})"
            )
            profiles.finish(recording[0], *profiles.paths(args.output), title)
        why_closed = server_metrics.closes_by_reason([server.metrics_port for server in servers])
    finally:
        fanout_run.stop(groups, servers)
    messages, closed, client_share, sampler = fanout_run.received(collected)
    result = analyse(messages, window["first_seq"], args.ticks, sampler)
    result.update(window)
    result.update(
        {
            "sockets": args.sockets,
            "server_processes": len(servers),
            "client_processes": counts,
            "client_sources": sorted(set(sources)),
            "connections_closed_by_server": closed,
            "server_closes": why_closed,
            "client_cpu_share_average": round(client_share, 3),
            "server_rss_mib_total": round(sum(window["server_rss_mib"]), 1),
            "ticks_measured": args.ticks,
            "server_command": f"REDIS_URL={args.redis_url} CHANNEL_LAYER_PREFIX={prefix} REALTIME_REUSE_PORT=1 "
            + " ".join(shlex.quote(part) for part in servers[0].command),
        }
    )
    result["checks"], result["meets_target"] = verdict(result)
    return result


def print_result(result):
    print(
        f"  {result['sockets']:,} sockets on one port over {result['server_processes']} processes "
        f"(sockets each at the end: {result['server_sockets']}), connected in {result['connect_seconds']} s; "
        f"caught up with the ticks after {result['settled_after_seconds']} s more (None: never)"
    )
    print(
        f"  at the client's kernel: p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms  max {result['max_ms']} ms;"
        f" read by the client's code: p50 {result['read_p50_ms']} ms  p99 {result['read_p99_ms']} ms"
    )
    print(
        f"  not connected {result['not_connected']:,}; "
        f"delivered {result['deliveries']:,}/{result['expected_deliveries']:,}  lost {result['lost']:,}  "
        f"duplicated {result['duplicated']:,}  broken (closed by the server) "
        f"{result['connections_closed_by_server']:,}"
    )
    why = result["server_closes"]
    print(
        f"  the servers' own counts: closes by code/initiator {why['closes']}, keepalive drops "
        f"{why['keepalive_drops']:,} (by the ping: {why['keepalive_drops_by_ping']}), "
        f"slow-client closes {why['slow_client_closes']:,}"
        + (f", unanswered {why['unanswered']}" if why["unanswered"] else "")
    )
    print(
        f"  server RSS {result['server_rss_mib']} MiB, {result['server_rss_mib_total']} MiB in all; server CPU "
        f"{result['server_cpu_share_average']}; load {result['load_average_before'][0]}->"
        f"{result['load_average_after'][0]}"
    )
    verdicts = ", ".join(f"{key} {'MET' if ok else 'MISSED'}" for key, ok in result["checks"].items())
    print(f"  targets {TARGET}: {verdicts}")


async def main(args):
    state = machine_state()
    state["open_file_limit"] = raise_open_file_limit(max(split(args.sockets, args.client_processes)) + 1024)
    print(
        f"c100k: {args.sockets:,} /ws/time sockets to one port, {args.processes} server processes (SO_REUSEPORT) "
        f"+ Redis {args.redis_url}, client in {args.client_processes} processes from {args.sources} source "
        f"addresses at niceness {args.client_nice} (servers {args.server_nice}), {args.ticks} ticks; "
        f"load average {load_average()}"
    )
    result = await measure(args)
    print_result(result)
    path = write_result(
        args.output,
        {
            **result_head(
                "c100k", args, state, server_processes=f"{args.processes} on one port (REALTIME_REUSE_PORT=1)"
            ),
            "parameters": {
                "sockets": args.sockets,
                "processes": args.processes,
                "ticks": args.ticks,
                "client_processes": args.client_processes,
                "client_nice": args.client_nice,
                "server_nice": args.server_nice,
                "sources": args.sources,
                "redis_url": args.redis_url,
                "grace_seconds": args.grace,
            },
            "target": TARGET,
            "result": result,
        },
    )
    print(f"written {os.path.relpath(path)}")


def parse_args(argv=None):
    parser = argument_parser(__doc__, "c100k", redis=True)
    parser.add_argument("--sockets", type=int, default=100000)
    parser.add_argument("--processes", type=int, default=0, help=f"server processes (0: one per {PER_SERVER:,})")
    parser.add_argument("--client-processes", type=int, default=0, help=f"0: one per {PER_CLIENT:,} sockets")
    parser.add_argument("--sources", type=int, default=0, help="127.0.0.x source addresses (0: one per client process)")
    parser.add_argument("--ticks", type=int, default=10)
    parser.add_argument("--client-nice", type=int, default=0, help="the client answers pings: niced, it starved")
    parser.add_argument(
        "--server-nice", type=int, default=0, help="niceness of the servers: > 0 lets the co-located clients go first"
    )
    parser.add_argument("--concurrency", type=int, default=50, help="handshakes in flight per client process")
    parser.add_argument("--grace", type=float, default=3.0)
    parser.add_argument("--read-interval", type=float, default=0.005)
    parser.add_argument(
        "--settle", type=float, default=120.0, help="seconds at most to wait for the servers to catch up (fanout_run)"
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="py-spy one server process during the ticks: <output>.pyspy.top.txt beside the result",
    )
    parser.set_defaults(server_cpus="0,1", client_cpu=None)
    args = parser.parse_args(argv)
    args.processes = args.processes or -(-args.sockets // PER_SERVER)
    args.client_processes = args.client_processes or -(-args.sockets // PER_CLIENT)
    args.sources = args.sources or args.client_processes
    return args


if __name__ == "__main__":
    run(main, parse_args())
