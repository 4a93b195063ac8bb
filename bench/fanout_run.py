"""One fan-out measurement against servers already started, for
bench.time_fanout and bench.c100k: the client groups connect their sockets
(bench/fanout_clients.py), wait for a tick every socket can have subscribed
to, count --ticks ticks and a grace period, and hand back what they received,
the servers' CPU and memory over the window, and the machine's load.
"""

import asyncio
import time

from bench.common import competing_processes, load_average
from bench.fanout_clients import BusiestSampler, CpuSampler, LocalGroup, RemoteGroup


class ConnectDeadline(Exception):
    """The sockets of a size were not all open by --connect-deadline."""


def client_groups(split, args, sources=None):
    """A group per count in `split`: in this process when there is one and
    the client runs at the ordinary niceness, else one child process each (a
    niced client runs in child processes, so that this process starts the
    servers at the ordinary niceness). `sources`: a source address per group."""
    if len(split) == 1 and not args.client_nice and not sources:
        return [LocalGroup(args.read_interval)]
    return [
        RemoteGroup(
            args.read_interval, args.client_cpu, count, args.client_nice, source=sources[index] if sources else None
        )
        for index, count in enumerate(split)
    ]


async def first_counted_tick(groups):
    """The first tick every client can have subscribed to: one after the
    latest any client has already seen."""
    seen = [seq for seq in await asyncio.gather(*(group.latest_seq() for group in groups)) if seq is not None]
    return (max(seen) if seen else int(time.time())) + 1


async def settled_tick(groups, settle):
    """first_counted_tick, once the servers have caught up (`settle` > 0):
    a connection storm leaves the ticks of its last seconds queued, and
    the ones after it are delivered seconds late until that backlog is
    gone; a steady state is what a deployment runs in. Waits until the
    latest tick the clients have is the current second's or the one
    before, for at most `settle` seconds. (first tick, seconds waited or
    None if the servers never caught up)."""
    started = time.monotonic()
    while True:
        first = await first_counted_tick(groups)
        waited = round(time.monotonic() - started, 1)
        if settle <= 0 or first >= int(time.time()):
            return first, waited
        if waited > settle:
            print(f"  the servers did not catch up with the ticks in {waited} s: measuring anyway", flush=True)
            return first, None
        await asyncio.sleep(1.0)


async def measure(groups, split, ports, servers, args, path="/ws/time", at_window=None):
    """Connect, count args.ticks ticks, collect; a dict of what happened.
    `at_window(servers)` is called as the counted ticks begin."""
    started = time.monotonic()
    connecting = asyncio.gather(
        *(group.connect(count, ports, path, args.concurrency) for group, count in zip(groups, split, strict=True))
    )
    deadline = getattr(args, "connect_deadline", None)
    try:
        connected = await asyncio.wait_for(connecting, deadline)
    except TimeoutError:
        # A server that takes minutes to accept its sockets has failed this
        # size: measuring its ticks would only stall the benchmark.
        raise ConnectDeadline(f"could not open {sum(split):,} sockets in {deadline:g} s") from None
    connect_seconds = time.monotonic() - started
    failed = sum(part["failed"] for part in connected)
    if failed:
        print(
            f"  {failed} sockets could not connect: {sorted({e for p in connected for e in p['errors']})[:5]}",
            flush=True,
        )
    print(
        f"  {sum(split) - failed} sockets connected to ports {sorted(set(ports))} (server pids "
        f"{[server.process.pid for server in servers]}) in {connect_seconds:.1f} s"
        f"{f', client in {len(split)} processes {split}' if len(split) > 1 else ''}",
        flush=True,
    )
    first_seq, settled = await settled_tick(groups, getattr(args, "settle", 0.0))
    last_seq = first_seq + args.ticks - 1
    for server in servers:
        server.start_window()
    if at_window is not None:
        at_window(servers)
    await asyncio.gather(*(group.measure() for group in groups))
    load_before = load_average()
    print(f"  measuring ticks {first_seq}..{last_seq} ({args.ticks} ticks)", flush=True)
    # Wait for the last tick, plus a grace period in which a late or
    # duplicated copy would still show up.
    await asyncio.sleep(max(0.0, last_seq + args.grace - time.time()))
    window = {
        "connect_seconds": round(connect_seconds, 2),
        "not_connected": failed,
        "first_seq": first_seq,
        "settled_after_seconds": settled,
        "server_cpu_share_average": [round(server.window_share(), 3) for server in servers],
        "server_rss_mib": [round(server.rss_bytes() / 2**20, 1) for server in servers],
        "server_sockets": [server.established() for server in servers],
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "competing_processes_at_end": competing_processes(),
    }
    collected = await asyncio.gather(*(group.collect(time.time()) for group in groups))
    return window, collected


def received(collected):
    """The clients' messages, the sockets the servers closed, the busiest
    client process's CPU: from what the groups handed back."""
    messages = [row for part in collected for row in part["received"]]
    closed = sum(part["closed"] for part in collected)
    client_share = max(part["cpu_share"] for part in collected)
    sampler = BusiestSampler([CpuSampler(samples=part["samples"]) for part in collected])
    return messages, closed, client_share, sampler


def stop(groups, servers):
    for group in groups:
        if isinstance(group, RemoteGroup):
            group.stop()
    for server in servers:
        server.stop()
