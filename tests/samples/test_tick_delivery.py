"""No tick lost, none repeated, when a Redis shard dies or the publisher
stalls (realtime/samples/ticker.py, realtime/consumer_kit/hub.py).

Real parts only: real Daphne processes (`python -m realtime.server`), real
`redis-server` processes this test starts on free loopback ports (the
shards), the machine's Redis for the stall test (a prefix of the test's own),
and websocket clients that record each tick's seq and arrival time. A client
notices a lost tick as a missing seq and a duplicate as a repeated one, so
that is what is asserted, on every client.
"""

import asyncio
import os
import signal
import time
import uuid

import redis

from tests.support.redis_servers import TickReader, shard_of

LEASE_SECONDS = 1.5  # the default REALTIME_PUBLISHER_LEASE_SECONDS, set explicitly here


def seqs_of(reader):
    return [seq for _, seq in reader.ticks]


def assert_every_tick_once(reader, label):
    """Each second from the first tick seen to the last, once, in order."""
    seqs = seqs_of(reader)
    assert len(seqs) == len(set(seqs)), f"{label}: a tick was repeated: {seqs}"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{label}: a tick was lost or reordered: {seqs}"


def longest_silence(reader, since):
    """The longest wait between two ticks arriving, from `since` on."""
    times = [arrived for arrived, _ in reader.ticks if arrived >= since - 1.5]
    return max(b - a for a, b in zip(times, times[1:], strict=False))


def lease_owner_pid(client, prefix):
    owner = client.get(f"{prefix}:time:publisher")
    return int(owner.decode().split("-")[0]) if owner else None


async def wait_into_second(fraction):
    """Sleep until `fraction` of the way into a wall-clock second, so a
    fault lands between two ticks, not on one."""
    now = time.time()
    await asyncio.sleep((int(now) + fraction - now) % 1.0)


async def test_ticks_survive_the_loss_of_the_shard_holding_the_lease_and_the_time_group(
    daphne,
    redis_processes,
):
    """Tried: two Redis shards (REDIS_SHARDS), two Daphne processes, a /ws/time
    client on each. The time group's own name is placed on the first shard,
    which also holds the publisher lease (it is first in the lease order),
    so the first shard is the one whose loss used to stop the ticks. Both
    processes are checked to subscribe to the time group on both shards.
    Then the first shard is SIGKILLed between two ticks and the clients read
    on for 7 s.

    Allowed: no tick lost and none repeated on either client, before,
    across and after the kill; the longest silence at most 3 s. A killed
    Redis refuses connections at once, so the lease moves to the second
    shard at the next tick and the tick goes out through the group's name
    there: ~1 s is expected; 3 s (lease + 1 s + slack for a loaded machine)
    is the bound, and a tick later than that would still have to arrive
    (late, not lost) for the seq check to pass.
    """
    shard_ports = [redis_processes.start_server() for _ in range(2)]
    while True:
        prefix = f"tick-{uuid.uuid4().hex[:8]}"
        if shard_of(f"{prefix}__group__time", 2) == 0:
            break
    env = {
        "REDIS_SHARDS": ",".join(f"redis://127.0.0.1:{port}/0" for port in shard_ports),
        "CHANNEL_LAYER_PREFIX": prefix,
        "REALTIME_PUBLISHER_LEASE_SECONDS": LEASE_SECONDS,
    }
    servers = [daphne(**env), daphne(**env)]
    readers = [TickReader(f"{server.ws_url}/ws/time").start() for server in servers]
    first, second = (redis.Redis(port=port, socket_timeout=2) for port in shard_ports)
    try:
        await asyncio.gather(*(reader.wait_for_ticks(3, timeout=10.0) for reader in readers))
        assert first.get(f"{prefix}:time:publisher"), "the lease is on the first shard while it is up"
        for shard, label in ((first, "first"), (second, "second")):
            names = shard.pubsub_channels(f"{prefix}__group__time*")
            assert len(names) == 1, f"the time group has one name on the {label} shard: {names}"
            assert shard.pubsub_numsub(names[0])[0][1] == 2, f"both processes subscribe on the {label} shard"

        await wait_into_second(0.4)
        redis_processes.kill(shard_ports[0])
        killed_at = time.time()
        await asyncio.gather(*(reader.wait_for_ticks(7, timeout=12.0) for reader in readers))

        for index, reader in enumerate(readers):
            assert_every_tick_once(reader, f"client of process {index}")
            assert [s for t, s in reader.ticks if t > killed_at + 1.5], "ticks kept coming after the kill"
            silence = longest_silence(reader, killed_at)
            print(f"\nprocess {index}: longest silence across the shard kill {silence:.2f}s; seqs {seqs_of(reader)}")
            assert silence <= 3.0, f"no tick for {silence:.2f}s on process {index} after the shard died"
        pids = {server.process.pid for server in servers}
        assert lease_owner_pid(second, prefix) in pids, "the lease moved to the second shard"
        for server in servers:
            assert server.process.poll() is None
    finally:
        for reader in readers:
            await reader.stop()


async def test_a_paused_publisher_loses_and_repeats_no_tick(daphne, redis_url, channel_prefix):
    """Tried: two Daphne processes on the real Redis, a /ws/time client on
    each. The process holding the publisher lease is paused with SIGSTOP
    between two ticks for 3.5 s (longer than the 1.5 s lease), then resumed
    with SIGCONT, and both clients read on for 4 more ticks.

    Expected and asserted:
    - the other process takes the lease over while the publisher is frozen,
      and sends the seconds nobody sent (late, not lost): its client gets
      every second exactly once, with no silence longer than 3.5 s
      (lease 1.5 s + the next whole second + 1 s slack);
    - the resumed process does not publish again the seconds already sent
      (it finds the lease taken), and its hub delivers what Redis queued for
      it while it was frozen: its client too gets every second exactly
      once, the frozen seconds arriving after SIGCONT (late), then on time;
    - the lease stays with the process that took it over.
    """
    env = {
        "REDIS_URL": redis_url,
        "CHANNEL_LAYER_PREFIX": channel_prefix,
        "REALTIME_PUBLISHER_LEASE_SECONDS": LEASE_SECONDS,
    }
    servers = [daphne(**env), daphne(**env)]
    readers = [TickReader(f"{server.ws_url}/ws/time").start() for server in servers]
    lease_redis = redis.Redis.from_url(redis_url, socket_timeout=2)
    paused_pid = None
    try:
        await asyncio.gather(*(reader.wait_for_ticks(3, timeout=10.0) for reader in readers))
        publisher = lease_owner_pid(lease_redis, channel_prefix)
        paused_index = next(i for i, s in enumerate(servers) if s.process.pid == publisher)
        paused_reader, other_reader = readers[paused_index], readers[1 - paused_index]
        other_pid = servers[1 - paused_index].process.pid

        await wait_into_second(0.3)
        os.kill(publisher, signal.SIGSTOP)
        paused_pid, stopped_at = publisher, time.time()
        await asyncio.sleep(3.5)
        os.kill(publisher, signal.SIGCONT)
        paused_pid, resumed_at = None, time.time()
        await asyncio.gather(*(reader.wait_for_ticks(4, timeout=10.0) for reader in readers))

        for label, reader in (
            ("client of the paused process", paused_reader),
            ("client of the other process", other_reader),
        ):
            assert_every_tick_once(reader, label)
            print(f"\n{label}: seqs {seqs_of(reader)}, longest silence {longest_silence(reader, stopped_at):.2f}s")
        assert longest_silence(other_reader, stopped_at) <= 3.5
        frozen = [(t, s) for t, s in paused_reader.ticks if int(stopped_at) < s < int(resumed_at)]
        assert len(frozen) >= 2, f"the seconds of the pause reached the paused process's client: {paused_reader.ticks}"
        assert all(t >= resumed_at - 0.1 for t, _ in frozen), "they came after SIGCONT, late"
        assert lease_owner_pid(lease_redis, channel_prefix) == other_pid, "the other process kept the lease"
    finally:
        if paused_pid is not None:
            os.kill(paused_pid, signal.SIGCONT)
        for reader in readers:
            await reader.stop()
