"""The room's stream through the chat socket (full ASGI stack, in-memory
layer, the test database; tests/chat/test_chat_postgres.py runs this file
again on PostgreSQL): every change takes the room's next offset, "sync"
returns exactly the changes after an offset, a client that lies in "sync"
gets a clear error and still every later change, and a repeated client_id
neither bypasses the rate limit nor reaches the room twice."""

import logging

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import override_settings

from realtime.chat import store as chat_store
from realtime.models import Change, Message, Room
from tests.support.chat import ChatSocket, seed_room

pytestmark = pytest.mark.django_db(transaction=True)


@override_settings(CHAT_POST_RATE_COUNT=3, CHAT_POST_RATE_SECONDS=60)
async def test_a_repeated_client_id_reaches_the_room_once_and_never_brings_a_deleted_message_back(room, alice, bob):
    """The same post with "client_id": "c1" sent 41 times (an audit's attack
    on the rate limit): bob, in the room, gets one broadcast; alice 41 acks
    of the one stored message, and her rate limit (3 a minute) still lets
    exactly two more new posts through. Deleted, then sent again: the ack
    says deleted, nothing reaches bob, the row stays deleted."""
    async with ChatSocket(room, bob) as member, ChatSocket(room, alice) as sender:
        acks = []
        for _ in range(41):
            acks.append(await sender.request("ack", action="post", text="again and again", client_id="c1"))
        assert {ack["id"] for ack in acks} == {acks[0]["id"]} and {ack["offset"] for ack in acks} == {1}
        seen = await member.expect("message")
        assert seen["offset"] == 1 and seen["message"]["text"] == "again and again"
        assert await member.quiet(0.5)  # no second delivery of it
        for n in (2, 3):
            assert (await sender.request("ack", action="post", text=f"new {n}"))["offset"] == n
        assert await sender.refused(action="post", text="one too many") == "rate_limited"
        assert [(await member.expect("message"))["offset"] for _ in range(2)] == [2, 3]

        await sender.request("ack", action="delete", id=acks[0]["id"])
        assert (await member.expect("deleted"))["offset"] == 4
        retried = await sender.request("ack", action="post", text="again and again", client_id="c1")
        assert retried["message"]["deleted"] is True and retried["message"]["text"] == ""
        assert await member.quiet(0.5)
    row = await Message.objects.aget(pk=acks[0]["id"])
    assert row.deleted and row.text == ""


async def test_every_change_takes_the_rooms_next_offset_and_joined_says_where_the_page_stands(room, alice, bob):
    async with ChatSocket(room) as early:
        assert (early.joined["offset"], early.joined["epoch"]) == (0, "")  # nothing stored yet
        async with ChatSocket(room, alice) as author, ChatSocket(room, bob) as other:
            one = await author.request("ack", action="post", text="one")
            two = await other.request("ack", action="post", text="two")
            edited = await author.request("ack", action="edit", id=one["id"], text="one, edited")
            deleted = await other.request("ack", action="delete", id=two["id"])
        assert [one["offset"], two["offset"], edited["offset"], deleted["offset"]] == [1, 2, 3, 4]
        epoch = one["epoch"]
        assert len(epoch) == 16 and {two["epoch"], edited["epoch"], deleted["epoch"]} == {epoch}
        seen = [await early.expect(kind) for kind in ("message", "message", "edited", "deleted")]
        assert [(f["offset"], f["epoch"]) for f in seen] == [(1, epoch), (2, epoch), (3, epoch), (4, epoch)]
    async with ChatSocket(room) as later:
        assert (later.joined["offset"], later.joined["epoch"]) == (4, epoch)
    assert await Change.objects.filter(room__name=room).acount() == 4


async def test_sync_returns_every_change_after_an_offset_with_its_message_as_stored_now(room, alice):
    async with ChatSocket(room, alice) as author:
        changed = (await author.request("ack", action="post", text="will change"))["id"]
        doomed = (await author.request("ack", action="post", text="doomed"))["id"]
        async with ChatSocket(room) as reader:
            held, epoch = reader.joined["offset"], reader.joined["epoch"]
        # While the reader is away:
        await author.request("ack", action="edit", id=changed, text="changed")
        await author.request("ack", action="delete", id=doomed)
        new = [(await author.request("ack", action="post", text=f"new {i}"))["id"] for i in range(3)]
        async with ChatSocket(room) as reader:
            sync = await reader.request("sync", action="sync", after=held, epoch=epoch)
            assert [(c["type"], c["offset"], c["message"]["id"]) for c in sync["changes"]] == [
                ("edited", 3, changed),
                ("deleted", 4, doomed),
                ("message", 5, new[0]),
                ("message", 6, new[1]),
                ("message", 7, new[2]),
            ]
            assert (sync["offset"], sync["epoch"], sync["has_more"]) == (7, epoch, False)
            assert sync["changes"][0]["message"]["text"] == "changed" and sync["changes"][1]["message"]["deleted"]
            # From the start: each post with its message as it is now, so
            # replaying an old change never brings deleted text back.
            replay = await reader.request("sync", action="sync", after=0, epoch=epoch)
            assert replay["changes"][1]["message"] == {**replay["changes"][1]["message"], "deleted": True, "text": ""}
            assert [c["offset"] for c in replay["changes"]] == [1, 2, 3, 4, 5, 6, 7]
            nothing = await reader.request("sync", action="sync", after=7, epoch=epoch)
            assert (nothing["changes"], nothing["offset"], nothing["has_more"]) == ([], 7, False)


async def test_sync_pages_through_a_long_absence(room):
    ids = await sync_to_async(seed_room)(room, 250)
    async with ChatSocket(room) as reader:
        epoch = reader.joined["epoch"]
        first = await reader.request("sync", action="sync", after=10, epoch=epoch)
        assert [c["message"]["id"] for c in first["changes"]] == ids[10:210]
        assert (first["offset"], first["has_more"]) == (210, True)
        rest = await reader.request("sync", action="sync", after=first["offset"], epoch=epoch)
        assert [c["message"]["id"] for c in rest["changes"]] == ids[210:]
        assert (rest["offset"], rest["has_more"]) == (250, False)


async def test_a_client_that_lies_in_sync_gets_a_clear_error_and_still_every_later_change(room, alice, caplog):
    """Offsets in the future, negative, huge, of the wrong type; an epoch of
    another room's stream or too long; malformed times in "since" (an
    audit's 2020-02-30, year 1, +99:00, hour 25): an invalid_field error
    frame each (a wrong epoch: a reset answer), no traceback or log line;
    and the socket still gets every later change, none skipped."""
    async with ChatSocket(room, alice) as author, ChatSocket(room) as liar:
        first = await author.request("ack", action="post", text="first")
        epoch = first["epoch"]
        await liar.expect("message")
        caplog.clear()
        for bad in (2, 10**6, -1, 2**63, 2**80, "1", 1.5, None, True):
            assert await liar.refused(action="sync", after=bad, epoch=epoch) == "invalid_field", bad
        for bad in (
            "2020-02-30T00:00:00",
            "0001-01-01T00:00:00Z",
            "2020-01-01T00:00:00+99:00",
            "2020-01-01T25:00:00",
            "yesterday",
            12,
        ):
            assert await liar.refused(action="sync", after=0, epoch=epoch, since=bad) == "invalid_field", bad
        assert await liar.refused(action="sync", after=0, epoch=["x"]) == "invalid_field"
        assert await liar.refused(action="sync", after=0, epoch="e" * 33) == "invalid_field"
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
        reset = await liar.request("sync", action="sync", after=1, epoch="f" * 16)
        assert reset["reset"] is True and (reset["offset"], reset["epoch"]) == (1, epoch)
        assert [m["text"] for m in reset["messages"]] == ["first"]
        second = await author.request("ack", action="post", text="second")
        assert (await liar.expect("message"))["offset"] == second["offset"] == 2
        sync = await liar.request("sync", action="sync", after=0, epoch=epoch, since="2026-12-02T12:00:00Z")
        assert [c["message"]["text"] for c in sync["changes"]] == ["first", "second"]


async def test_offsets_stay_gapless_when_many_post_at_once(room, alice, bob):
    """Posts racing through six sockets of two users: the stored offsets are
    1..n, each once, in the order of the message ids."""
    import asyncio

    async def post_many(chat, who):
        for i in range(8):
            await chat.request("ack", action="post", text=f"{who} {i}")

    with override_settings(CHAT_POST_RATE_COUNT=0):
        sockets = [ChatSocket(room, cookie) for cookie in (alice, bob) * 3]
        for chat in sockets:
            await chat.__aenter__()
        try:
            await asyncio.gather(*(post_many(chat, n) for n, chat in enumerate(sockets)))
        finally:
            for chat in sockets:
                await chat.__aexit__()
    rows = [
        row
        async for row in Change.objects.filter(room__name=room).order_by("offset").values_list("offset", "message_id")
    ]
    assert [offset for offset, _ in rows] == list(range(1, 49))
    assert [pk for _, pk in rows] == sorted(pk for _, pk in rows)
    assert (await Room.objects.aget(name=room)).last_offset == 48


async def test_a_post_whose_process_died_before_publishing_reaches_the_room_when_retried_once(room, alice, bob):
    """Stored (offset 1) by a process that died before broadcasting it: no
    member saw it and the author got no ack. The author's retry, on this
    process, publishes it once; retried again, nothing more goes out."""
    author = await User.objects.aget(username="alice")
    async with ChatSocket(room, bob) as member, ChatSocket(room, alice) as sender:
        await sync_to_async(chat_store.post)(room, author, "stored, never broadcast", "lost-1")
        assert await member.quiet(0.3)
        ack = await sender.request("ack", action="post", text="stored, never broadcast", client_id="lost-1")
        seen = await member.expect("message")
        assert (seen["offset"], seen["message"]["id"]) == (1, ack["id"])
        await sender.request("ack", action="post", text="stored, never broadcast", client_id="lost-1")
        assert await member.quiet(0.5)
