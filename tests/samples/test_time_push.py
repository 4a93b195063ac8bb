"""The time push across processes: two real Daphne processes on the real
Redis form one clock — the same tick `seq` everywhere, one publisher at a
time, and another process takes over within 3 s when the publisher dies."""

import asyncio
import json
import time

import redis
import websockets


async def read_ticks(url, count, timeout=3.0):
    async with websockets.connect(url) as ws:
        return [json.loads(await asyncio.wait_for(ws.recv(), timeout)) for _ in range(count)]


def publisher_pid(redis_url, prefix):
    owner = redis.Redis.from_url(redis_url).get(f"{prefix}:time:publisher")
    return int(owner.decode().split("-")[0]) if owner else None


async def test_two_processes_deliver_the_same_ticks(daphne, redis_url, channel_prefix):
    first = daphne(REDIS_URL=redis_url, CHANNEL_LAYER_PREFIX=channel_prefix)
    second = daphne(REDIS_URL=redis_url, CHANNEL_LAYER_PREFIX=channel_prefix)
    ticks_a, ticks_b, go_text_b = await asyncio.gather(
        read_ticks(f"{first.ws_url}/ws/time", 4),
        read_ticks(f"{second.ws_url}/ws/time", 4),
        read_go_times(f"{second.ws_url}/wstime", 4),
    )
    common = {t["seq"] for t in ticks_a} & {t["seq"] for t in ticks_b}
    assert len(common) >= 3, (ticks_a, ticks_b)
    by_seq_a = {t["seq"]: t for t in ticks_a}
    by_seq_b = {t["seq"]: t for t in ticks_b}
    for seq in common:
        assert by_seq_a[seq] == by_seq_b[seq], "both processes pass on the very same tick"
    for sequence in (ticks_a, ticks_b):
        seqs = [t["seq"] for t in sequence]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"lost or repeated ticks: {seqs}"
    assert set(go_text_b) & {t["time"] for t in ticks_a}
    # Exactly one of the two holds the publisher lease.
    assert publisher_pid(redis_url, channel_prefix) in {first.process.pid, second.process.pid}


async def read_go_times(url, count):
    async with websockets.connect(url) as ws:
        return [await asyncio.wait_for(ws.recv(), 3.0) for _ in range(count)]


async def test_publishing_moves_to_the_survivor_within_3s(daphne, redis_url, channel_prefix):
    servers = [daphne(REDIS_URL=redis_url, CHANNEL_LAYER_PREFIX=channel_prefix) for _ in range(2)]
    clients = [await websockets.connect(f"{server.ws_url}/ws/time") for server in servers]
    try:
        for ws in clients:  # both processes are ticking
            json.loads(await asyncio.wait_for(ws.recv(), 3.0))
        leader_pid = publisher_pid(redis_url, channel_prefix)
        leader = next(s for s in servers if s.process.pid == leader_pid)
        survivor, survivor_ws = next((s, ws) for s, ws in zip(servers, clients, strict=True) if s is not leader)

        # Drain what is already queued, then kill the publisher mid-second.
        await asyncio.sleep(0.3)
        seen = [json.loads(m)["seq"] for m in await drain(survivor_ws)]
        leader.kill()
        killed_at = time.time()
        tick = json.loads(await asyncio.wait_for(survivor_ws.recv(), 5.0))
        gap = time.time() - killed_at
        assert gap <= 3.0, f"no tick for {gap:.2f}s after the publisher died"
        assert publisher_pid(redis_url, channel_prefix) == survivor.process.pid
        # Ticks keep coming, one a second, never repeating one already seen.
        following = [json.loads(await asyncio.wait_for(survivor_ws.recv(), 2.0))["seq"] for _ in range(2)]
        assert following == [tick["seq"] + 1, tick["seq"] + 2]
        assert tick["seq"] not in seen
    finally:
        for ws in clients:
            await ws.close()


async def drain(ws):
    """Messages the client has already received but not yet read
    (cancelling recv() in websockets >= 13 loses nothing)."""
    messages = []
    while True:
        try:
            messages.append(await asyncio.wait_for(ws.recv(), 0.05))
        except TimeoutError:
            return messages
