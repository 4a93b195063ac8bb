"""Moderation through the Django admin reaches every open chat socket, as a
delete by the author does, on real servers: two Daphne processes sharing
the real Redis (channel layer) and one SQLite database.

What is tried: an author posts through a chat socket; a staff member,
logged in to the admin over HTTP on one process, deletes the message on its
delete page (POST), then two more with the "delete selected" action; chat
sockets open on both processes, one of them the author's own, receive each
deletion. The rows stay as "message deleted" marks, a reconnecting client's
sync says so, the admin offers no add and no edit (which would change a
room behind its sockets' back), and the metrics count the admin's deletes.
"""

import asyncio
import http.client
import os
import re
import subprocess
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from tests.ops.scrape import scrape, value
from tests.support.chat import PASSWORD, ChatClient, http_signup, unique
from tests.support.paths import PYTHON, ROOT
from tests.support.ports import free_port


def make_staff(database_url, username):
    code = (
        "from django.contrib.auth.models import User\n"
        f"User.objects.create_superuser({username!r}, 'moderator@example.com', {PASSWORD!r})\n"
    )
    result = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


class AdminClient:
    """A browser's conversation with the admin: cookies, CSRF tokens, forms."""

    def __init__(self, server):
        self.server = server
        self.cookies = {}

    def request(self, method, path, form=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        headers = {
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "Referer": self.server.http_url + path,
        }
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body, headers)
        response = connection.getresponse()
        text = response.read().decode()
        for header, header_value in response.getheaders():
            if header.lower() == "set-cookie":
                for name, morsel in SimpleCookie(header_value).items():
                    self.cookies[name] = morsel.value
        connection.close()
        return response.status, response.getheader("Location"), text

    def csrf_form(self, path):
        status, _, page = self.request("GET", path)
        assert status == 200, page[:2000]
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    def log_in(self, username):
        token = self.csrf_form("/admin/login/")
        status, location, page = self.request(
            "POST",
            "/admin/login/?next=/admin/",
            {"csrfmiddlewaretoken": token, "username": username, "password": PASSWORD, "next": "/admin/"},
        )
        assert status == 302 and location == "/admin/", page[:2000]


async def test_an_admin_delete_reaches_every_open_socket_like_the_authors(
    daphne, server_database, redis_url, channel_prefix
):
    metrics_port = free_port()
    layer = {"REDIS_URL": redis_url, "CHANNEL_LAYER_PREFIX": channel_prefix}
    first = daphne(REALTIME_METRICS_PORT=metrics_port, **layer)
    second = daphne(**layer)
    room, author, moderator = unique("moderated"), unique("author"), unique("moderator")
    author_session = await asyncio.to_thread(http_signup, first, author)
    await asyncio.to_thread(make_staff, server_database, moderator)
    admin = AdminClient(first)
    await asyncio.to_thread(admin.log_in, moderator)

    async with (
        ChatClient(second, room, author_session) as writer,
        ChatClient(first, room) as on_first,
        ChatClient(second, room) as on_second,
    ):
        await asyncio.sleep(0.5)  # every process has subscribed to the room
        ids = []
        for text in ("spam one", "spam two", "spam three"):
            await writer.send(action="post", text=text)
            ack = await writer.expect("ack")
            ids.append(ack["id"])
            for socket in (on_first, on_second):
                assert (await socket.expect("message"))["message"]["text"] == text

        # 1. The delete page of one message (what its Delete button posts).
        path = f"/admin/realtime/message/{ids[0]}/delete/"
        token = await asyncio.to_thread(admin.csrf_form, path)
        status, location, _ = await asyncio.to_thread(
            admin.request, "POST", path, {"csrfmiddlewaretoken": token, "post": "yes"}
        )
        assert status == 302, location
        for socket in (writer, on_first, on_second):
            deleted = await socket.expect("deleted")
            assert deleted["message"]["id"] == ids[0]
            assert deleted["message"]["deleted"] is True and deleted["message"]["text"] == ""

        # 2. "Delete selected" on the list, for the other two.
        token = await asyncio.to_thread(admin.csrf_form, "/admin/realtime/message/")
        status, _, _ = await asyncio.to_thread(
            admin.request,
            "POST",
            "/admin/realtime/message/",
            {"csrfmiddlewaretoken": token, "action": "delete_selected", "_selected_action": ids[1:], "post": "yes"},
        )
        assert status == 302
        for socket in (writer, on_first, on_second):
            got = {(await socket.expect("deleted"))["message"]["id"] for _ in ids[1:]}
            assert got == set(ids[1:])

    # The rows stay as deletion marks: a client that comes back and syncs
    # sees the three messages deleted.
    async with ChatClient(first, room) as returning:
        assert [(m["id"], m["deleted"], m["text"]) for m in returning.joined["messages"]] == [
            (message_id, True, "") for message_id in ids
        ]

    # The admin cannot add messages or edit them behind the sockets' back.
    status, _, _ = await asyncio.to_thread(admin.request, "GET", "/admin/realtime/message/add/")
    assert status == 403
    status, _, page = await asyncio.to_thread(admin.request, "GET", f"/admin/realtime/message/{ids[0]}/change/")
    assert status == 200 and 'name="text"' not in page and "Save" not in page

    samples = scrape(metrics_port)
    assert value(samples, "realtime_chat_changes_total", action="delete", via="admin") == 3
    # The author's posts went through the second process.
    assert value(samples, "realtime_chat_changes_total", action="post", via="socket") == 0
