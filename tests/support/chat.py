"""Chat clients for the tests.

In-process, through the full ASGI stack (origin check, session auth,
routing) over Channels' WebsocketCommunicator: `ChatSocket`, with
`session_cookie` for a user. Against real Daphne subprocesses: accounts made
through the real signup form over HTTP (`http_signup`), rows seeded into the
servers' database (`seed_messages`), and `ChatClient` on the `websockets`
library."""

import asyncio
import http.client
import json
import os
import random
import re
import subprocess
import sys
import uuid
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from tests.support.paths import ROOT

PASSWORD = "plum-harbour-47-lantern"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def loopback_address():
    """A random 127.x.y.z: a client address of its own on this machine (the
    whole 127/8 is loopback), for tests that must look like many clients."""
    return ".".join(["127", *(str(random.randint(1, 254)) for _ in range(3))])


def http_signup(server, username, password=PASSWORD, address=None, headers=None):
    """Sign up through /accounts/signup/ (CSRF token and all) and return the
    session cookie value the server set. Each signup comes from a loopback
    address of its own (or `address`), as different people's would: the
    server limits new accounts per client address. `headers` go with both
    requests."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=10, source_address=(address or loopback_address(), 0)
    )
    connection.request("GET", "/accounts/signup/", headers=dict(headers or {}))
    response = connection.getresponse()
    page = response.read().decode()
    assert response.status == 200, page
    cookies = SimpleCookie(response.getheader("Set-Cookie"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urlencode({"csrfmiddlewaretoken": token, "username": username, "password1": password, "password2": password})
    connection.request(
        "POST",
        "/accounts/signup/",
        body,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookies['csrftoken'].value}",
            "Referer": server.http_url + "/accounts/signup/",
            **(headers or {}),
        },
    )
    response = connection.getresponse()
    text = response.read().decode()
    assert response.status == 302, f"signup failed ({response.status}): {text[:2000]}"
    session = SimpleCookie(response.getheader("Set-Cookie"))["sessionid"].value
    connection.close()
    return session


def seed_messages(database_url, room, count, author):
    """Store `count` messages m0..m{count-1} by `author` in `room` directly in
    the servers' database; returns their ids in order."""
    code = (
        "import json\n"
        "from django.contrib.auth.models import User\n"
        "from realtime.chat.stream import add_posts\n"
        f"user, _ = User.objects.get_or_create(username={author!r})\n"
        f"print(json.dumps(add_posts({room!r}, user, [f'm{{i}}' for i in range({count})])))\n"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- in-process (WebsocketCommunicator) -----------------------------------------------


def seed_room(room, count, author="seeder"):
    """Store `count` messages m0..m{count-1} by `author` in `room` (offsets
    1..count) in the test database; returns their ids in order."""
    from django.contrib.auth.models import User

    from realtime.chat.stream import add_posts

    user, _ = User.objects.get_or_create(username=author)
    return add_posts(room, user, [f"m{i}" for i in range(count)])


def session_cookie(user):
    """A real session for `user`, as the login form would create it."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


BROADCASTS = {"message", "edited", "deleted"}


class ChatSocket:
    """`async with ChatSocket(room, cookie) as chat:` connects and reads the
    "joined" frame into `chat.joined`."""

    def __init__(self, room, cookie=None):
        from config.asgi import application

        headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
        if cookie:
            headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
        self.communicator = WebsocketCommunicator(application, f"/ws/chat/{room}/", headers=headers)
        self.room = room
        self.presence = None
        self.broadcasts = []

    async def __aenter__(self):
        connected, _ = await self.communicator.connect(timeout=5)
        assert connected, "the chat socket refused the connection"
        self.joined = await self.expect("joined")
        return self

    async def __aexit__(self, *exc):
        await self.communicator.disconnect()

    async def send(self, **request):
        await self.communicator.send_json_to(request)

    async def send_text(self, text):
        await self.communicator.send_to(text_data=text)

    async def _next(self, timeout):
        """The next frame within `timeout`, or None. (Channels' communicator
        cancels the application when a receive times out, so wait with
        receive_nothing, which does not.)"""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await self.communicator.receive_nothing(timeout=0.02, interval=0.01):
            if loop.time() >= deadline:
                return None
        return await self.communicator.receive_json_from(timeout=1)

    async def frame(self, timeout=3.0):
        """The next frame that is not a presence update (those are recorded
        in `self.presence`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self._next(max(0.0, deadline - loop.time()))
            if frame is None:
                raise AssertionError(f"no frame within {timeout} s")
            if frame.get("type") == "presence":
                self.presence = frame
                continue
            return frame

    async def expect(self, kind, timeout=3.0):
        """The next frame of `kind`. Room broadcasts that arrive while waiting
        for something else (e.g. the sender's own post coming back to it) are kept
        in `self.broadcasts`, not mistaken for the reply; a later expect of
        their kind takes them from there first."""
        for index, kept in enumerate(self.broadcasts):
            if kept["type"] == kind:
                return self.broadcasts.pop(index)
        frame = await self.frame(timeout)
        while frame.get("type") in BROADCASTS and frame.get("type") != kind:
            self.broadcasts.append(frame)
            frame = await self.frame(timeout)
        if kind == "error":
            assert "error" in frame, f"expected an error frame, got {frame}"
            return frame["error"]
        assert frame.get("type") == kind, f"expected a {kind!r} frame, got {frame}"
        return frame

    async def request(self, kind, **request):
        await self.send(**request)
        return await self.expect(kind)

    async def refused(self, **request):
        """Send `request`; return the error frame's code."""
        await self.send(**request)
        return (await self.expect("error"))["code"]

    async def quiet(self, timeout=0.3):
        """Nothing but presence arrives within `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            frame = await self._next(remaining)
            if frame is None:
                return True
            if frame.get("type") == "presence":
                self.presence = frame
                continue
            raise AssertionError(f"unexpected frame {frame}")
        return True

    async def wait_presence(self, check, timeout=5.0):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (self.presence and check(self.presence)):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"presence never matched; last seen {self.presence}")
            frame = await self._next(remaining)
            if frame is not None and frame.get("type") == "presence":
                self.presence = frame
        return self.presence


# -- against a real server (websockets) -------------------------------------------------


class ChatClient:
    """A chat socket on a real server (websockets library)."""

    def __init__(self, server, room, session=None):
        self.url = f"{server.ws_url}/ws/chat/{room}/"
        self.headers = {"Cookie": f"sessionid={session}"} if session else {}
        self.presence = None

    async def __aenter__(self):
        import websockets

        self.socket = await websockets.connect(self.url, additional_headers=self.headers, open_timeout=5)
        self.joined = await self.expect("joined")
        return self

    async def __aexit__(self, *exc):
        await self.socket.close()

    async def send(self, **request):
        await self.socket.send(json.dumps(request))

    async def frame(self, timeout=5.0):
        while True:
            frame = json.loads(await asyncio.wait_for(self.socket.recv(), timeout))
            if frame.get("type") == "presence":
                self.presence = frame
                continue
            return frame

    async def expect(self, kind, timeout=5.0):
        frame = await self.frame(timeout)
        while frame.get("type") in {"message", "edited", "deleted"} and frame.get("type") != kind:
            frame = await self.frame(timeout)
        if kind == "error":
            assert "error" in frame, f"expected an error, got {frame}"
            return frame["error"]
        assert frame.get("type") == kind, f"expected {kind!r}, got {frame}"
        return frame

    async def wait_presence(self, check, timeout=10.0):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (self.presence and check(self.presence)):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"presence never matched; last seen {self.presence}")
            try:
                frame = json.loads(await asyncio.wait_for(self.socket.recv(), remaining))
            except TimeoutError:
                continue
            if frame.get("type") == "presence":
                self.presence = frame
        return self.presence
