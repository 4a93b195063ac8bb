"""Helpers for chat tests against real Daphne subprocesses: accounts made
through the real signup form over HTTP, rows seeded into the servers' SQLite
file, and a chat socket client on the `websockets` library."""

import http.client
import json
import os
import random
import re
import subprocess
import sys
import uuid
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "plum-harbour-47-lantern"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def loopback_address():
    """A random 127.x.y.z: a client address of its own on this machine (the
    whole 127/8 is loopback), for tests that must look like many clients."""
    return ".".join(["127", *(str(random.randint(1, 254)) for _ in range(3))])


def http_signup(server, username, password=PASSWORD, address=None):
    """Sign up through /accounts/signup/ (CSRF token and all) and return the
    session cookie value the server set. Each signup comes from a loopback
    address of its own (or `address`), as different people's would: the
    server limits new accounts per client address."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10,
                                            source_address=(address or loopback_address(), 0))
    connection.request("GET", "/accounts/signup/")
    response = connection.getresponse()
    page = response.read().decode()
    assert response.status == 200, page
    cookies = SimpleCookie(response.getheader("Set-Cookie"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urlencode({"csrfmiddlewaretoken": token, "username": username,
                      "password1": password, "password2": password})
    connection.request("POST", "/accounts/signup/", body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"csrftoken={cookies['csrftoken'].value}",
        "Referer": server.http_url + "/accounts/signup/",
    })
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
        "from realtime.models import Message, Room\n"
        f"user, _ = User.objects.get_or_create(username={author!r})\n"
        f"room, _ = Room.objects.get_or_create(name={room!r})\n"
        f"Message.objects.bulk_create([Message(room=room, author=user, text=f'm{{i}}') for i in range({count})])\n"
        "print(json.dumps(list(Message.objects.filter(room=room).order_by('id').values_list('id', flat=True))))\n"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "DATABASE_URL": database_url}, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


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
        import asyncio

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
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (self.presence and check(self.presence)):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"presence never matched; last seen {self.presence}")
            try:
                frame = json.loads(await asyncio.wait_for(self.socket.recv(), remaining))
            except asyncio.TimeoutError:
                continue
            if frame.get("type") == "presence":
                self.presence = frame
        return self.presence
