"""Chat flooding against real servers: edits are rate-limited like posts
(each is broadcast to the whole room), and the per-user check cannot be
raced: posts (or edits) sent at the same moment through two server
processes never both pass a limit only one of them may pass. On SQLite and
on PostgreSQL."""

import asyncio
import os
import subprocess
import uuid

import pytest

from tests.support.chat import ChatClient, http_signup, unique
from tests.support.paths import PYTHON, ROOT


@pytest.fixture
def postgres_database(postgres_url):
    """A migrated PostgreSQL database of this test's own, dropped after it."""
    import psycopg

    name = f"sec_race_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(postgres_url, autocommit=True, connect_timeout=3)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    try:
        migrated = subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url},
            capture_output=True,
            text=True,
        )
        assert migrated.returncode == 0, migrated.stderr
        yield url
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


async def test_edits_are_limited_per_user_across_processes(daphne):
    """Tried: one member edits the same message four times in a row,
    alternating between two processes, with a limit of three edits in 30 s.
    The fourth is refused with a clear error and changes nothing; posting
    (a limit of its own) still works."""
    env = {"CHAT_EDIT_RATE_COUNT": 3, "CHAT_EDIT_RATE_SECONDS": 30}
    server_a, server_b = daphne(**env), daphne(**env)
    room = unique("edits")
    session = http_signup(server_a, unique("editor"))
    async with ChatClient(server_a, room, session) as on_a, ChatClient(server_b, room, session) as on_b:
        await on_a.send(action="post", text="v0")
        message_id = (await on_a.expect("ack"))["id"]
        for n, tab in enumerate([on_a, on_b, on_a], start=1):
            await tab.send(action="edit", id=message_id, text=f"v{n}")
            assert (await tab.expect("ack"))["message"]["text"] == f"v{n}"
        await on_b.send(action="edit", id=message_id, text="v4 too fast")
        error = await on_b.expect("error")
        assert error["code"] == "rate_limited", error
        assert "at most 3 edits every 30 s" in error["message"] and "try again in" in error["message"]
        await on_a.send(action="history", before=2**62)
        assert [m["text"] for m in (await on_a.expect("history"))["messages"]] == ["v3"]
        await on_b.send(action="post", text="posting is limited on its own")
        await on_b.expect("ack")


async def race(server_a, server_b, users=6):
    """Each of `users` members posts from two sockets (one per process) at
    the same moment, then edits the message that was stored from both
    sockets at the same moment, with limits of one post and one edit a
    minute. Returns, per user, the reply types of the posts and the edits
    and the texts stored."""
    sessions = [http_signup(server_a, unique("racer")) for _ in range(users)]
    room = unique("race")
    clients = []
    for session in sessions:
        clients.append((ChatClient(server_a, room, session), ChatClient(server_b, room, session)))
    for pair in clients:
        for client in pair:
            await client.__aenter__()
    try:

        async def reply(client):
            frame = await client.frame(timeout=20)
            while frame.get("type") in ("message", "edited", "deleted"):
                frame = await client.frame(timeout=20)
            return frame

        async def both(action, fields):
            await asyncio.gather(
                *(
                    client.send(action=action, **fields(n, side))
                    for n, pair in enumerate(clients)
                    for side, client in enumerate(pair)
                )
            )
            return [await asyncio.gather(*(reply(client) for client in pair)) for pair in clients]

        posts = await both("post", lambda n, side: {"text": f"user {n} socket {side}"})
        stored_ids = [
            next(r["id"] for r in pair if r.get("type") == "ack") if any(r.get("type") == "ack" for r in pair) else None
            for pair in posts
        ]
        edits = await both("edit", lambda n, side: {"id": stored_ids[n] or 1, "text": f"edit {n} socket {side}"})
        stored = []
        for pair in clients:
            await pair[0].send(action="history", before=2**62)
            history = await pair[0].expect("history")
            stored.append(history["messages"])
        return posts, edits, stored
    finally:
        for pair in clients:
            for client in pair:
                await client.__aexit__(None, None, None)


def kinds(pair):
    return sorted(frame.get("type") or frame["error"]["code"] for frame in pair)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_racing_posts_and_edits_cannot_both_pass_the_limit(daphne, database, request):
    """Tried: see race(); on two processes sharing the database."""
    env = {
        "CHAT_POST_RATE_COUNT": 1,
        "CHAT_POST_RATE_SECONDS": 60,
        "CHAT_EDIT_RATE_COUNT": 1,
        "CHAT_EDIT_RATE_SECONDS": 60,
    }
    if database == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_database")
    server_a, server_b = daphne(**env), daphne(**env)
    posts, edits, stored = await race(server_a, server_b)
    for n, (post_pair, edit_pair, messages) in enumerate(zip(posts, edits, stored, strict=True)):
        assert kinds(post_pair) == ["ack", "rate_limited"], (n, post_pair)
        assert kinds(edit_pair) == ["ack", "rate_limited"], (n, edit_pair)
        mine = [m for m in messages if m["text"].startswith((f"user {n} ", f"edit {n} "))]
        assert len(mine) == 1, (n, messages)
        assert mine[0]["text"].startswith(f"edit {n} socket ")
    for server in (server_a, server_b):
        assert "Traceback" not in server.output(), server.output()[-3000:]
