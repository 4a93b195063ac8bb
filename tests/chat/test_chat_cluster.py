"""The chat across real Daphne processes sharing Redis and one database:
messages cross processes with their stored ids, an acknowledged message
survives the server being killed right after, presence follows people across
processes and forgets a process that died, and the per-user posting limit
holds across processes."""

import asyncio
import sqlite3
import time

from tests.support.chat import ChatClient, http_signup, unique


def stored_text(database_url, message_id):
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
        row = db.execute("SELECT text FROM realtime_message WHERE id = ?", (message_id,)).fetchone()
    return row and row[0]


async def test_an_acknowledged_message_survives_a_kill_right_after_and_crosses_processes(
    daphne, redis_url, channel_prefix, server_database
):
    env = {"REDIS_URL": redis_url, "CHANNEL_LAYER_PREFIX": channel_prefix}
    server_a, server_b = daphne(**env), daphne(**env)
    room = unique("durable")
    alice = http_signup(server_a, unique("alice"))
    async with ChatClient(server_b, room) as watcher:
        async with ChatClient(server_a, room, alice) as sender:
            await sender.send(action="post", text="acknowledged, then crash", client_id="k1")
            ack = await sender.expect("ack")
            server_a.kill()  # SIGKILL the moment the ack is in: no cleanup, no flush
        # The other process's client got it with the same stored id.
        seen = await watcher.expect("message")
        assert seen["message"]["id"] == ack["id"]
    assert stored_text(server_database, ack["id"]) == "acknowledged, then crash"
    restarted = daphne(**env)
    async with ChatClient(restarted, room) as later:
        assert [m["text"] for m in later.joined["messages"]] == ["acknowledged, then crash"]


async def test_presence_spans_processes_and_forgets_a_process_that_died(daphne, redis_url, channel_prefix):
    env = {"REDIS_URL": redis_url, "CHANNEL_LAYER_PREFIX": channel_prefix, "CHAT_PRESENCE_REFRESH_SECONDS": 0.5}
    server_a, server_b = daphne(**env), daphne(**env)
    room = unique("presence")
    alice_name, bob_name = unique("alice"), unique("bob")
    alice, bob = http_signup(server_a, alice_name), http_signup(server_b, bob_name)
    async with ChatClient(server_a, room, alice) as on_a:
        async with ChatClient(server_b, room, bob), ChatClient(server_b, room):
            await on_a.wait_presence(lambda p: p["users"] == sorted([alice_name, bob_name]) and p["guests"] == 1)
            server_b.kill()  # dies without saying goodbye
            started = time.monotonic()
            await on_a.wait_presence(lambda p: p["users"] == [alice_name] and p["guests"] == 0, timeout=5)
            # 3 refresh periods of 0.5 s, plus a flush.
            assert time.monotonic() - started < 3.0


async def test_the_per_user_post_limit_holds_across_processes(daphne, redis_url, channel_prefix, server_database):
    env = {
        "REDIS_URL": redis_url,
        "CHANNEL_LAYER_PREFIX": channel_prefix,
        "CHAT_POST_RATE_COUNT": 3,
        "CHAT_POST_RATE_SECONDS": 30,
    }
    server_a, server_b = daphne(**env), daphne(**env)
    room = unique("limit")
    session = http_signup(server_a, unique("carol"))
    async with ChatClient(server_a, room, session) as tab_a, ChatClient(server_b, room, session) as tab_b:
        for i, tab in enumerate([tab_a, tab_b, tab_a]):
            await tab.send(action="post", text=f"ok {i}")
            await tab.expect("ack")
        await tab_b.send(action="post", text="one too many")
        error = await tab_b.expect("error")
        assert error["code"] == "rate_limited" and "at most 3 messages every 30 s" in error["message"]
        await asyncio.sleep(0.3)
        await tab_a.send(action="history", before=2**62)
        history = await tab_a.expect("history")
        assert [m["text"] for m in history["messages"]] == ["ok 0", "ok 1", "ok 2"]
