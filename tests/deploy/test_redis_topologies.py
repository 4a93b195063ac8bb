"""More than one Redis: the channel layer over two Redis shards, and over
Redis Sentinel with a failover.

Every Redis here is a real `redis-server` (and `redis-sentinel`, i.e.
`redis-server --sentinel`) process that this test starts on free loopback
ports with throwaway directories; the machine's shared Redis on 6379 is not
touched. Two real Daphne processes use them.

What is tried:
- Shards (REDIS_SHARDS): ticks from the one publisher and chat messages
  reach clients on both processes, with the time group placed on the shard
  that does *not* hold the publisher lease, so both shards must work.
- Sentinel (REDIS_SENTINELS): a master, a replica, three sentinels (quorum
  2). Ticks and chat reach both processes; then the master is SIGKILLed.
  The sentinels promote the replica and both Daphne processes, not
  restarted, go on delivering ticks and chat through the new master. The
  gap in tick delivery is measured and printed; on this machine it is
  ~3-6 s (sentinel down-after 1 s + election + promotion + the layer's
  reconnect, which retries once a second), and the test requires < 15 s.
"""

import asyncio
import time
import uuid

import redis

from tests.support.chat import ChatClient, http_signup, unique
from tests.support.redis_servers import MASTER_NAME, TickReader, prefix_with_time_group_on


async def assert_chat_crosses(server_a, server_b, label):
    """A message posted on one process reaches a client of the other."""
    room = unique(f"topo-{label}")
    poster = http_signup(server_a, unique("poster"))
    async with ChatClient(server_b, room) as watcher, ChatClient(server_a, room, poster) as sender:
        await sender.send(action="post", text=f"over {label}")
        await sender.expect("ack")
        seen = await watcher.expect("message", timeout=10.0)
        assert seen["message"]["text"] == f"over {label}"


async def assert_same_ticks_on_both(readers, count=3, timeout=6.0):
    got = await asyncio.gather(*(reader.wait_for_ticks(count, timeout) for reader in readers))
    for seqs in got:
        assert seqs == list(range(seqs[0], seqs[0] + count)), f"lost or repeated ticks: {got}"
    assert set(got[0]) & set(got[1]), f"the processes do not share ticks: {got}"


async def test_the_channel_layer_over_two_redis_shards(daphne, redis_processes):
    shard_ports = [redis_processes.start_server() for _ in range(2)]
    shards = ",".join(f"redis://127.0.0.1:{port}/0" for port in shard_ports)
    # The lease lives on the first shard; put the time group on the second.
    prefix = prefix_with_time_group_on(1, 2)
    env = {"REDIS_SHARDS": shards, "CHANNEL_LAYER_PREFIX": prefix}
    servers = [daphne(**env), daphne(**env)]
    readers = [TickReader(f"{server.ws_url}/ws/time").start() for server in servers]
    try:
        await assert_same_ticks_on_both(readers)
        first, second = (redis.Redis(port=port) for port in shard_ports)
        assert first.get(f"{prefix}:time:publisher"), "the publisher lease is on the first shard"
        group_channel = f"{prefix}__group__time"
        assert dict(second.pubsub_numsub(group_channel))[group_channel.encode()] == 2, (
            "both processes subscribe to the time group on the second shard"
        )
        assert dict(first.pubsub_numsub(group_channel))[group_channel.encode()] == 0
        await assert_chat_crosses(servers[0], servers[1], "shards")
    finally:
        for reader in readers:
            await reader.stop()


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def sentinel_master_port(sentinel_port):
    address = redis.Redis(port=sentinel_port, socket_timeout=1).sentinel_get_master_addr_by_name(MASTER_NAME)
    return int(address[1]) if address else None


async def test_the_channel_layer_over_sentinel_survives_a_master_failover(daphne, redis_processes):
    master = redis_processes.start_server()
    replica = redis_processes.start_server("--replicaof", "127.0.0.1", str(master))
    sentinels = [redis_processes.start_sentinel(master, quorum=2) for _ in range(3)]

    def replica_known_to_sentinels():
        for port in sentinels:
            replicas = redis.Redis(port=port, socket_timeout=1).sentinel_slaves(MASTER_NAME)
            if not any(r["port"] == replica and not r["is_sdown"] for r in replicas):
                return False
        return redis.Redis(port=replica).info("replication")["master_link_status"] == "up"

    wait_until(replica_known_to_sentinels, 20, "the sentinels to discover the replica")
    env = {
        "REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in sentinels),
        "REDIS_SENTINEL_MASTER": MASTER_NAME,
        "CHANNEL_LAYER_PREFIX": f"topo-{uuid.uuid4().hex[:8]}",
    }
    servers = [daphne(**env), daphne(**env)]
    readers = [TickReader(f"{server.ws_url}/ws/time").start() for server in servers]
    try:
        await assert_same_ticks_on_both(readers)
        await assert_chat_crosses(servers[0], servers[1], "sentinel")
        # Give the chat's writes time to replicate, then kill the master.
        await asyncio.sleep(0.5)
        last_before = [reader.ticks[-1] for reader in readers]
        redis_processes.kill(master)
        killed_at = time.time()

        # Both processes deliver ticks again, through the promoted replica.
        await asyncio.gather(*(reader.wait_for_ticks(1, timeout=30.0) for reader in readers))
        gaps = []
        for reader, (before_time, before_seq) in zip(readers, last_before, strict=True):
            after_time, after_seq = next((t, s) for t, s in reader.ticks if t > killed_at)
            gaps.append((after_time - before_time, after_seq - before_seq - 1, after_time - killed_at))
        print(
            f"\nSentinel failover: tick gap per process {[f'{gap:.1f}s' for gap, _, _ in gaps]}, "
            f"ticks not delivered during it {[missed for _, missed, _ in gaps]}, "
            f"first tick {[f'{after:.1f}s' for _, _, after in gaps]} after the master was killed"
        )
        assert sentinel_master_port(sentinels[0]) == replica, "the sentinels promoted the replica"
        for gap, _, _ in gaps:
            assert gap < 15.0, f"ticks stopped for {gap:.1f}s across the failover"
        # After the failover: shared ticks again, no repeats, and chat works.
        await assert_same_ticks_on_both(readers)
        for reader in readers:
            seqs = [seq for _, seq in reader.ticks]
            assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs), f"a tick was repeated: {seqs}"
        await assert_chat_crosses(servers[0], servers[1], "sentinel-after-failover")
        for server in servers:
            assert server.process.poll() is None, "a Daphne process died in the failover"
    finally:
        for reader in readers:
            await reader.stop()
