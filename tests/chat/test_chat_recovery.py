"""The chat under faults, against real servers: a Redis of the test's own
restarted while a member stays connected (the member is told to resync and
fetches exactly what it missed), and a PostgreSQL cluster of the test's own
restarted (`pg_ctl restart -m fast`: a post right after is acknowledged, not
refused) and then stopped (a clear error frame, and a log line, not a
traceback per message)."""

import asyncio
import os
import subprocess
import time

import psycopg

from tests.support.chat import ChatClient, http_signup, unique
from tests.support.paths import PYTHON, ROOT
from tests.support.postgres import PrivateCluster, database_url
from tests.support.redis_servers import OwnRedis

LOST = "channel layer: group messages may be lost"
BACK = "channel layer answers again"


async def next_frame(client, kinds, timeout):
    """The next frame of one of `kinds` (others are skipped), or None."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (remaining := deadline - loop.time()) > 0:
        try:
            frame = await client.frame(remaining)
        except TimeoutError:
            return None
        if frame.get("type") in kinds:
            return frame
    return None


async def test_a_member_that_stayed_connected_through_a_redis_restart_gets_every_post_it_missed(
    daphne, channel_prefix, tmp_path
):
    """Posts acknowledged while Redis is down (and in the second after, before
    channels-redis subscribes again) reach no other process: the member on
    the other server is told to resync and fetches exactly those, in order."""
    redis = OwnRedis(tmp_path)
    redis.start()
    env = {
        "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        "CHANNEL_LAYER_PREFIX": channel_prefix,
        "CHAT_POST_RATE_COUNT": 0,
    }
    server_a, server_b = daphne(**env), daphne(**env)
    room = unique("outage")
    alice = http_signup(server_a, unique("alice"))
    try:
        async with ChatClient(server_b, room) as member, ChatClient(server_a, room, alice) as poster:
            await poster.send(action="post", text="before", client_id="p0")
            assert (await next_frame(poster, {"ack"}, 10))["offset"] == 1
            assert (await next_frame(member, {"message"}, 10))["offset"] == 1
            redis.stop()
            acked = []
            for n in range(1, 4):
                await poster.send(action="post", text=f"during {n}", client_id=f"p{n}")
                acked.append(await next_frame(poster, {"ack"}, 10))
            assert [ack["offset"] for ack in acked] == [2, 3, 4]  # stored and acknowledged all the same
            redis.start()
            started = time.monotonic()
            resync = await next_frame(member, {"resync"}, 15)
            assert resync == {"type": "resync"}, "the member was never told to resync"
            took = time.monotonic() - started
            await member.send(action="sync", after=1, epoch=acked[0]["epoch"])
            sync = await next_frame(member, {"sync"}, 10)
            assert [(c["offset"], c["message"]["text"]) for c in sync["changes"]] == [
                (2, "during 1"),
                (3, "during 2"),
                (4, "during 3"),
            ]
            assert took < 5, f"the resync came {took:.1f} s after Redis was back"
        # Each process said so once when it went and once when it came back.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(s.output().count(BACK) for s in (server_a, server_b)):
            await asyncio.sleep(0.2)
        for server in (server_a, server_b):
            log = server.output()
            assert log.count(LOST) == 1 and log.count(BACK) == 1, log[-3000:]
    finally:
        redis.stop()


async def test_a_postgresql_restart_costs_a_delay_not_an_error_and_a_dead_database_a_clear_error(daphne, tmp_path):
    cluster = PrivateCluster()
    try:
        with psycopg.connect(cluster.url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE chat_restart")
        url = database_url(cluster.url, "chat_restart")
        migrate = subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrate.returncode == 0, migrate.stderr
        # Persistent connections: the restart cuts the one the server holds
        # (with DATABASE_CONN_MAX_AGE=0 only a request in flight meets it).
        server = daphne(DATABASE_URL=url, CHAT_POST_RATE_COUNT=0, DATABASE_CONN_MAX_AGE=600)
        room = unique("pgrestart")
        alice = http_signup(server, unique("alice"))
        async with ChatClient(server, room, alice) as poster:
            await poster.send(action="post", text="before", client_id="b")
            assert (await next_frame(poster, {"ack"}, 10))["offset"] == 1
            await asyncio.to_thread(cluster.restart)
            for n in range(3):
                await poster.send(action="post", text=f"after {n}", client_id=f"a{n}")
                frame = await poster.frame(15)
                while frame.get("type") == "message":
                    frame = await poster.frame(15)
                assert frame.get("type") == "ack", f"a post after the restart got {frame}"
            with psycopg.connect(url) as db:
                rows = db.execute("SELECT client_id FROM realtime_message ORDER BY id").fetchall()
            assert [row[0] for row in rows] == ["b", "a0", "a1", "a2"]
            # The server's log says it is back once it has been back a while
            # (realtime/ops/outages.py), at the next use of the database.
            deadline = time.monotonic() + 15
            while "the database is back" not in server.output():
                assert time.monotonic() < deadline, server.output()[-3000:]
                await poster.send(action="history", before=2**40)
                await next_frame(poster, {"history"}, 10)
                await asyncio.sleep(0.5)

            # Now it is gone for good: a clear error frame, the socket stays.
            await asyncio.to_thread(
                lambda: subprocess.run(
                    [*cluster.as_user, cluster.pg_ctl, "-D", str(cluster.data), "-m", "immediate", "-w", "stop"],
                    capture_output=True,
                    timeout=60,
                )
            )
            for n in range(3):
                started = time.monotonic()
                await poster.send(action="post", text=f"lost {n}", client_id=f"l{n}")
                error = await poster.expect("error", timeout=30)
                assert error["code"] == "unavailable" and "try again" in error["message"]
                # The first waits for the database to come back; then each is refused at once.
                assert time.monotonic() - started < (15 if n == 0 else 3)
        log = server.output()
        # The chat's own lines: one per outage, no traceback per message.
        assert "error handling a message" not in log and "internal_error" not in log, log[-3000:]
        assert log.count("the database is unavailable") == 2, log[-3000:]  # the restart, the stop
        assert log.count("the database is back") == 1, log[-3000:]
    finally:
        cluster.stop()
