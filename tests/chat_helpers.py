"""Helpers shared by the chat tests: a chat socket client over Channels'
WebsocketCommunicator, through the full ASGI stack (origin check, session
auth, routing), and session cookies for users."""

import asyncio

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client


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
