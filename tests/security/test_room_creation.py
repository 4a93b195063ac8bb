"""Anonymous visitors cannot fill the database with rooms: a room is stored
with its first post by a member, not when its page is viewed or its socket
opened. Against a real server, reading its SQLite file."""

import asyncio
import http.client
import sqlite3
import uuid

from tests.support.chat import ChatClient, http_signup, unique


def stored_rooms(database_url, prefix):
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=10) as db:
        return [row[0] for row in db.execute("SELECT name FROM realtime_room WHERE name LIKE ?", (prefix + "%",))]


def test_viewing_new_room_pages_stores_no_rooms(daphne, server_database):
    """Tried: an anonymous client GETs /chat/<name>/ for 200 made-up names,
    as a script filling the room table would."""
    server = daphne()
    prefix = f"spam-{uuid.uuid4().hex[:6]}-"
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for n in range(200):
        connection.request("GET", f"/chat/{prefix}{n}/")
        response = connection.getresponse()
        page = response.read().decode()
        assert response.status == 200 and f"Chat: {prefix}{n}" in page
    connection.close()
    assert stored_rooms(server_database, prefix) == []


async def test_sockets_store_the_room_only_with_the_first_post(daphne, server_database):
    """Tried: guests and a logged-in member open the socket of a new room,
    ask for history and sync, and the member edits and deletes messages that
    do not exist: nothing is stored. Then the member posts: the room is
    stored, and a guest who joined before sees the message, live and in
    its history."""
    server = daphne()
    room = unique("firstpost")
    member = http_signup(server, unique("member"))
    async with ChatClient(server, room) as guest, ChatClient(server, room, member) as author:
        for client in (guest, author):
            assert client.joined["messages"] == []
            await client.send(action="history", before=2**62)
            assert (await client.expect("history"))["messages"] == []
            await client.send(action="sync", after=0)
            assert (await client.expect("sync"))["changes"] == []
        await author.send(action="edit", id=1, text="no such message")
        assert (await author.expect("error"))["code"] == "not_found"
        await author.send(action="delete", id=1)
        assert (await author.expect("error"))["code"] == "not_found"
        await asyncio.sleep(0.2)
        assert stored_rooms(server_database, room) == []

        await author.send(action="post", text="the first post")
        ack = await author.expect("ack")
        assert stored_rooms(server_database, room) == [room]
        live = await guest.expect("message")
        assert live["message"]["id"] == ack["id"]
        await guest.send(action="history", before=2**62)
        assert [m["text"] for m in (await guest.expect("history"))["messages"]] == ["the first post"]
        # The author can now edit it through the socket it opened before the room existed.
        await author.send(action="edit", id=ack["id"], text="edited")
        assert (await author.expect("ack"))["message"]["text"] == "edited"
