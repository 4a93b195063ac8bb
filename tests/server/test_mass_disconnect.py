"""Mass disconnect: 1,000 /ws/time clients over two real Daphne processes on
the real Redis all go away at once.

What is tried: 500 raw WebSocket clients per process, all receiving ticks;
then, within a few milliseconds, half of them send a close frame and hang up
and the other half reset their TCP connection (SO_LINGER 0, as a crashed
client or a dropped network does). Stock channels-redis keeps one group
entry per socket in Redis and removes them one command at a time; with
redis-py 8's default pool of 100 connections it left 901 of 1,000 in the
group here, and opened one Redis connection per socket when the pool was
raised. Our hub subscribes each *process* to the group once
(realtime/hub.py), so what must hold is:

- every process unsubscribes from the group once its last socket is gone:
  Redis `PUBSUB NUMSUB` for the group's channel drops to 0;
- each process keeps a handful of Redis connections (`CLIENT LIST`), the
  same with 500 sockets as with one, never one per socket;
- nothing is logged as an error, and new clients get ticks right away.
"""

import json
import socket
import struct
import time

import psutil
import redis

from realtime.server.frames import OP_CLOSE, OP_TEXT, client_frame, close_payload
from tests.support.raw_ws import FrameReader, open_socket

CLIENTS_PER_PROCESS = 500
MAX_REDIS_CONNECTIONS_PER_PROCESS = 6  # layer subscriber + publisher, tick lease, tracing snapshot, spare


def redis_connections_of(client, pid):
    """How many of Redis's clients (CLIENT LIST) are connections of process `pid`."""
    local_ports = {c.laddr.port for c in psutil.Process(pid).net_connections("tcp") if c.raddr}
    return sum(1 for entry in client.client_list() if int(entry["addr"].rsplit(":", 1)[1]) in local_ports)


def group_subscribers(client, prefix, group="time"):
    return dict(client.pubsub_numsub(f"{prefix}__group__{group}"))[f"{prefix}__group__{group}".encode()]


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def read_one_tick(sock, timeout=3.0):
    """Read one server text frame."""
    sock.settimeout(timeout)
    opcode, payload = FrameReader(sock).frame()
    assert opcode == OP_TEXT, f"not a text frame: opcode {opcode}, {payload!r}"
    return json.loads(payload)


def test_a_thousand_clients_leaving_at_once_leave_nothing_behind(daphne, redis_url, channel_prefix):
    servers = [daphne(REDIS_URL=redis_url, CHANNEL_LAYER_PREFIX=channel_prefix) for _ in range(2)]
    client = redis.Redis.from_url(redis_url)

    sockets = []
    for server in servers:
        for _ in range(CLIENTS_PER_PROCESS):
            sockets.append(open_socket(server.port, "/ws/time"))
    # Every client is a member: each receives the next tick.
    time.sleep(1.2)
    for sock in sockets:
        sock.setblocking(False)
    silent = []
    for sock in sockets:
        try:
            if not sock.recv(1):
                silent.append(sock)
        except BlockingIOError:
            silent.append(sock)
    assert not silent, f"{len(silent)} of {len(sockets)} clients got no tick"
    assert group_subscribers(client, channel_prefix) == 2, "each process subscribes to the group once"
    connections_busy = [redis_connections_of(client, s.process.pid) for s in servers]

    # Everyone leaves at once: half cleanly, half by TCP reset.
    close_frame = client_frame(OP_CLOSE, close_payload(1000))
    started = time.monotonic()
    for index, sock in enumerate(sockets):
        if index % 2:
            try:
                sock.send(close_frame)
            except OSError:
                pass
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    print(f"\n{len(sockets)} clients disconnected in {(time.monotonic() - started) * 1000:.0f} ms")

    # No stale member: both processes unsubscribe from the group.
    assert wait_until(lambda: group_subscribers(client, channel_prefix) == 0, 10.0), (
        f"{group_subscribers(client, channel_prefix)} process(es) still subscribed after everyone left"
    )
    # The servers no longer hold any WebSocket connection.
    for server in servers:
        assert wait_until(
            lambda s=server: (
                not [
                    c
                    for c in psutil.Process(s.process.pid).net_connections("tcp")
                    if c.laddr.port == s.port and c.status == psutil.CONN_ESTABLISHED
                ]
            ),
            10.0,
        ), "a server still holds client connections"

    connections_idle = [redis_connections_of(client, s.process.pid) for s in servers]
    print(
        f"Redis connections per process with {CLIENTS_PER_PROCESS} sockets: {connections_busy}, "
        f"after they left: {connections_idle}"
    )
    for count in connections_busy + connections_idle:
        assert 1 <= count <= MAX_REDIS_CONNECTIONS_PER_PROCESS, (connections_busy, connections_idle)

    # The group works again for newcomers, on both processes.
    newcomers = [open_socket(server.port, "/ws/time") for server in servers]
    try:
        ticks = [read_one_tick(sock) for sock in newcomers]
        assert abs(ticks[0]["seq"] - ticks[1]["seq"]) <= 1
        assert wait_until(lambda: group_subscribers(client, channel_prefix) == 2, 3.0)
    finally:
        for sock in newcomers:
            sock.close()

    for server in servers:
        log = server.output()
        for marker in ("Traceback", "ERROR", "Exception"):
            assert marker not in log, f"server logged {marker!r}:\n{log[-3000:]}"
