"""The chat socket /ws/chat/<room>/ through the full ASGI stack (origin
check, session auth, routing) with Channels' WebsocketCommunicator and the
in-memory layer, against the test database. tests/chat/test_chat_postgres.py runs
this file again on PostgreSQL."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import override_settings

from realtime.models import Message, Room
from tests.support.chat import ChatSocket, seed_room, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def stored(room):
    return list(Message.objects.filter(room__name=room).order_by("id").values_list("text", flat=True))


# -- joining and history --------------------------------------------------------


async def test_joining_an_empty_room_sends_nothing_and_stores_no_room(room):
    async with ChatSocket(room) as guest:
        assert guest.joined["messages"] == [] and guest.joined["has_more"] is False
        assert guest.joined["user"] is None
    assert not await Room.objects.filter(name=room).aexists()


async def test_joining_sends_the_last_50_messages_oldest_first(room):
    ids = await sync_to_async(seed_room)(room, 60)
    async with ChatSocket(room) as guest:
        assert [m["id"] for m in guest.joined["messages"]] == ids[-50:]
        assert guest.joined["messages"][0]["text"] == "m10"
        assert guest.joined["has_more"] is True


async def test_load_older_pages_back_to_the_first_message_without_gaps_or_repeats_while_others_post(room, alice):
    """Page back through 120 messages while alice posts between the pages:
    every stored message is seen exactly once, in order."""
    ids = await sync_to_async(seed_room)(room, 120)
    async with ChatSocket(room) as reader, ChatSocket(room, alice) as poster:
        seen = [m["id"] for m in reader.joined["messages"]]
        has_more = reader.joined["has_more"]
        live = []
        while has_more:
            await poster.request("ack", action="post", text=f"meanwhile {len(live)}")
            live.append((await reader.expect("message"))["message"]["id"])
            page = await reader.request("history", action="history", before=seen[0])
            seen = [m["id"] for m in page["messages"]] + seen
            has_more = page["has_more"]
        assert seen == ids
        assert len(live) == 2  # 120 = 50 + 50 + 20: two "load older" pages


# -- posting --------------------------------------------------------------------


async def test_a_post_is_stored_before_anyone_sees_it_and_the_sender_gets_the_stored_id(room, alice):
    async with ChatSocket(room) as guest, ChatSocket(room, alice) as sender:
        ack = await sender.request("ack", action="post", room=room, text="hello", client_id="c1")
        assert ack["client_id"] == "c1" and ack["message"]["author"] == "alice"
        broadcast = await guest.expect("message")
        # The id the others get is already a stored row.
        assert await Message.objects.filter(pk=broadcast["message"]["id"], text="hello").aexists()
        assert broadcast["message"]["id"] == ack["id"]
        assert (await sender.expect("message"))["message"]["id"] == ack["id"]


async def test_a_retried_post_with_the_same_client_id_is_stored_once(room, alice):
    """A client that lost its ack re-sends with the same client_id: the
    stored message, at its first offset."""
    async with ChatSocket(room, alice) as sender:
        first = await sender.request("ack", action="post", text="once", client_id="retry-1")
        again = await sender.request("ack", action="post", text="once", client_id="retry-1")
        assert (again["id"], again["offset"], again["epoch"]) == (first["id"], first["offset"], first["epoch"])
    assert await Message.objects.filter(room__name=room).acount() == 1
    # The same client_id in another room is another message.
    async with ChatSocket(room + "-b", alice) as elsewhere:
        other = await elsewhere.request("ack", action="post", text="once", client_id="retry-1")
        assert other["id"] != first["id"]


async def test_text_with_markup_is_stored_and_sent_verbatim(room, alice):
    text = '<script>alert(1)</script><img src=x onerror="alert(2)"> & <b>bold</b>'
    async with ChatSocket(room, alice) as sender:
        ack = await sender.request("ack", action="post", text=text)
        assert ack["message"]["text"] == text
    assert (await Message.objects.aget(pk=ack["id"])).text == text


# -- edit and delete ---------------------------------------------------------------


async def test_editing_your_message_shows_it_edited_to_everyone(room, alice):
    async with ChatSocket(room) as guest, ChatSocket(room, alice) as author:
        message_id = (await author.request("ack", action="post", text="draft"))["id"]
        await guest.expect("message")
        ack = await author.request("ack", action="edit", id=message_id, text="final")
        assert ack["message"]["text"] == "final" and ack["message"]["edited_at"]
        edited = await guest.expect("edited")
        assert edited["message"]["id"] == message_id and edited["message"]["text"] == "final"
        assert edited["message"]["edited_at"] is not None
    message = await Message.objects.aget(pk=message_id)
    assert message.text == "final" and message.edited_at is not None


async def test_deleting_your_message_leaves_a_deleted_mark_for_everyone(room, alice):
    async with ChatSocket(room) as guest, ChatSocket(room, alice) as author:
        message_id = (await author.request("ack", action="post", text="oops"))["id"]
        await guest.expect("message")
        await author.request("ack", action="delete", id=message_id)
        deleted = await guest.expect("deleted")
        assert deleted["message"] == {**deleted["message"], "id": message_id, "deleted": True, "text": ""}
    async with ChatSocket(room) as later:
        (mark,) = later.joined["messages"]
        assert mark["deleted"] is True and mark["text"] == "" and mark["author"] == "alice"
    message = await Message.objects.aget(pk=message_id)
    assert message.deleted_at is not None and message.text == ""


async def test_staff_may_delete_anyones_message_but_not_edit_it(room, alice, staff):
    async with ChatSocket(room, alice) as author, ChatSocket(room, staff) as moderator:
        message_id = (await author.request("ack", action="post", text="spam"))["id"]
        await moderator.expect("message")
        assert await moderator.refused(action="edit", id=message_id, text="changed") == "forbidden"
        await moderator.request("ack", action="delete", id=message_id)
        assert (await author.expect("deleted"))["message"]["id"] == message_id


async def test_editing_or_deleting_someone_elses_message_is_refused_and_changes_nothing(room, alice, bob):
    async with ChatSocket(room, alice) as author, ChatSocket(room, bob) as other:
        message_id = (await author.request("ack", action="post", text="mine"))["id"]
        await author.expect("message")
        await other.expect("message")
        assert await other.refused(action="edit", id=message_id, text="yours now") == "forbidden"
        assert await other.refused(action="delete", id=message_id) == "forbidden"
        await author.quiet()  # no edit or deletion was broadcast
        # The socket stays up: bob can still post.
        await other.request("ack", action="post", text="still here")
    message = await Message.objects.aget(pk=message_id)
    assert message.text == "mine" and message.edited_at is None and message.deleted_at is None


async def test_editing_a_deleted_missing_or_other_rooms_message_is_refused(room, alice):
    async with ChatSocket(room, alice) as author, ChatSocket(room + "-other", alice) as elsewhere:
        gone = (await author.request("ack", action="post", text="gone"))["id"]
        await author.expect("message")
        await author.request("ack", action="delete", id=gone)
        assert await author.refused(action="edit", id=gone, text="back") == "message_deleted"
        assert await author.refused(action="delete", id=gone) == "message_deleted"
        assert await author.refused(action="edit", id=10**9, text="x") == "not_found"
        # An id from another room, sent to this room's socket.
        other_id = (await elsewhere.request("ack", action="post", text="there"))["id"]
        assert await author.refused(action="edit", id=other_id, text="x") == "not_found"
        assert await author.refused(action="delete", id=other_id) == "not_found"
    assert (await Message.objects.aget(pk=other_id)).text == "there"


# -- abuse: every refused request gets an error frame, stores nothing, and the
# -- socket stays open (checked by a successful request afterwards) -------------


async def test_anonymous_post_edit_and_delete_are_refused(room, alice):
    async with ChatSocket(room, alice) as author, ChatSocket(room) as guest:
        message_id = (await author.request("ack", action="post", text="hi"))["id"]
        await guest.expect("message")
        assert await guest.refused(action="post", text="I am nobody") == "login_required"
        assert await guest.refused(action="edit", id=message_id, text="x") == "login_required"
        assert await guest.refused(action="delete", id=message_id) == "login_required"
        # Still open and still reading.
        assert (await guest.request("history", action="history", before=message_id))["messages"] == []
    assert await sync_to_async(stored)(room) == ["hi"]


async def test_a_message_for_another_room_is_refused(room, alice):
    async with ChatSocket(room, alice) as author:
        assert await author.refused(action="post", room="elsewhere", text="misdirected") == "wrong_room"
        await author.request("ack", action="post", room=room, text="right room")
    assert not await Message.objects.filter(text="misdirected").aexists()
    assert not await Room.objects.filter(name="elsewhere").aexists()


@override_settings(CHAT_MAX_MESSAGE_CHARS=2000)
async def test_empty_blank_and_over_long_messages_are_refused(room, alice):
    async with ChatSocket(room, alice) as author:
        assert await author.refused(action="post", text="") == "empty_message"
        assert await author.refused(action="post", text=" \n\t ") == "empty_message"
        assert await author.refused(action="post", text="x" * 2001) == "message_too_long"
        assert await author.refused(action="post", text="nul\x00byte") == "invalid_text"
        assert await author.refused(action="post", text=42) == "invalid_field"
        assert await author.refused(action="post") == "invalid_field"
        ok = await author.request("ack", action="post", text="y" * 2000)  # exactly the limit
        await author.expect("message")
        assert await author.refused(action="edit", id=ok["id"], text="z" * 2001) == "message_too_long"
        assert await author.refused(action="edit", id=ok["id"], text="   ") == "empty_message"
    assert await Message.objects.filter(room__name=room).acount() == 1
    assert (await Message.objects.aget(pk=ok["id"])).text == "y" * 2000


@override_settings(CHAT_MAX_MESSAGE_CHARS=10)
async def test_the_length_limit_is_a_setting(room, alice):
    async with ChatSocket(room, alice) as author:
        assert author.joined["max_chars"] == 10
        await author.send(action="post", text="x" * 11)
        error = await author.expect("error")
        assert error["code"] == "message_too_long" and "10" in error["message"]
        await author.request("ack", action="post", text="x" * 10)


async def test_malformed_json_unknown_or_missing_action_and_bad_fields_get_error_frames(room, alice):
    async with ChatSocket(room, alice) as author:
        await author.send_text('{"action": "post", "text": "unterminated')
        assert (await author.expect("error"))["code"] == "invalid_json"
        await author.send_text('["post", "hello"]')
        assert (await author.expect("error"))["code"] == "invalid_shape"
        assert await author.refused(action="shout", text="HELLO") == "unknown_action"
        assert await author.refused(text="no action") == "unknown_action"
        assert await author.refused(action=["post"], text="list action") == "unknown_action"
        assert await author.refused(action="edit", id="7", text="x") == "invalid_field"
        assert await author.refused(action="delete", id=-1) == "invalid_field"
        assert await author.refused(action="history", before=True) == "invalid_field"
        assert await author.refused(action="post", text="x", client_id="c" * 65) == "invalid_field"
        await author.request("ack", action="post", text="the socket is still up")
    assert await Message.objects.filter(room__name=room).acount() == 1


@override_settings(CHAT_POST_RATE_COUNT=3, CHAT_POST_RATE_SECONDS=1.5)
async def test_posting_faster_than_the_per_user_limit_is_refused_with_a_clear_error(room, alice, bob):
    """The limit is per user: a second socket of the same user shares it; another user does not."""
    import asyncio

    async with ChatSocket(room, alice) as tab1, ChatSocket(room, alice) as tab2, ChatSocket(room, bob) as other:
        for i in range(2):
            await tab1.request("ack", action="post", text=f"a{i}")
        await tab2.request("ack", action="post", text="a2")
        await tab1.send(action="post", text="a3 too fast")
        error = await tab1.expect("error")
        assert error["code"] == "rate_limited"
        assert "at most 3 messages every 1.5 s" in error["message"] and "try again in" in error["message"]
        assert await tab2.refused(action="post", text="a4 too fast") == "rate_limited"
        await other.request("ack", action="post", text="bob is not limited by alice")
        await asyncio.sleep(1.6)
        await tab1.request("ack", action="post", text="after the window")
    assert not await Message.objects.filter(text__contains="too fast").aexists()
    assert await Message.objects.filter(room__name=room, author__username="alice").acount() == 4


# -- reconnecting -------------------------------------------------------------------


# -- presence ------------------------------------------------------------------------


async def test_presence_shows_who_comes_and_goes(room, alice, bob):
    async with ChatSocket(room, alice) as first:
        await first.wait_presence(lambda p: p["users"] == ["alice"] and p["guests"] == 0)
        async with ChatSocket(room, bob), ChatSocket(room):
            await first.wait_presence(lambda p: p["users"] == ["alice", "bob"] and p["guests"] == 1)
        await first.wait_presence(lambda p: p["users"] == ["alice"] and p["guests"] == 0)


# -- handshake and frame limits --------------------------------------------------


async def test_a_foreign_origin_cannot_open_the_chat_socket_with_a_users_cookie(room, alice):
    """Cross-site WebSocket hijacking: another site's page opening our socket
    with the visitor's session cookie is refused at the handshake."""
    from channels.testing import WebsocketCommunicator
    from django.conf import settings

    from config.asgi import application

    communicator = WebsocketCommunicator(
        application,
        f"/ws/chat/{room}/",
        headers=[
            (b"origin", b"https://evil.example"),
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={alice}".encode()),
        ],
    )
    connected, _ = await communicator.connect(timeout=5)
    assert not connected
    await communicator.disconnect()


async def test_a_frame_over_the_socket_limit_closes_with_1009_and_stores_nothing(room, alice):
    async with ChatSocket(room, alice) as author:
        await author.send(action="post", text="x" * (64 * 1024 + 1))
        while True:
            output = await author.communicator.receive_output(timeout=3)
            if output["type"] == "websocket.close":
                break
        assert output["code"] == 1009
    assert not await Message.objects.filter(room__name=room).aexists()


async def test_a_socket_whose_user_logged_out_elsewhere_can_no_longer_post(room):
    """Alice's socket was opened logged in; she then logs out in another tab
    (the session is deleted). The old socket's next post is refused and nothing
    is stored; reading still works."""
    from importlib import import_module

    from django.conf import settings

    user = await sync_to_async(User.objects.create_user)("leaver", password="a-long-passphrase-4")
    cookie = await sync_to_async(session_cookie)(user)
    async with ChatSocket(room, cookie) as tab:
        await tab.request("ack", action="post", text="before logging out")
        store = import_module(settings.SESSION_ENGINE).SessionStore(cookie)
        await sync_to_async(store.delete)()
        assert await tab.refused(action="post", text="after logging out") == "login_required"
        assert await tab.refused(action="edit", id=1, text="x") == "login_required"
        history = await tab.request("history", action="history", before=2**62)
        assert [m["text"] for m in history["messages"]] == ["before logging out"]
    assert not await Message.objects.filter(text="after logging out").aexists()


async def test_a_password_change_ends_the_sockets_right_to_post(room):
    user = await sync_to_async(User.objects.create_user)("changer", password="a-long-passphrase-5")
    cookie = await sync_to_async(session_cookie)(user)
    async with ChatSocket(room, cookie) as tab:
        await tab.request("ack", action="post", text="old password")
        user.set_password("another-long-passphrase-6")
        await user.asave()
        assert await tab.refused(action="post", text="new password, old session") == "login_required"
    assert not await Message.objects.filter(text__contains="old session").aexists()
