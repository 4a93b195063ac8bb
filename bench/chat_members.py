"""The chat benchmarks' clients (bench.chat_fanout, bench.soak): a room
member that records what it receives, and a member account made through the
real signup form."""

import asyncio
import http.client
import re
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from bench.wsclient import OP_TEXT, WebSocketClientProtocol, client_frame

PASSWORD = "bench-harbour-47-lantern"


class Member(WebSocketClientProtocol):
    """Records (receive time, raw payload); parsing waits until the run is over."""

    def __init__(self, host, port, path, headers=()):
        super().__init__(host, port, path)
        self.extra_headers = list(headers)
        self.received = []
        self.got_first = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        if not self.extra_headers:
            return super().connection_made(transport)
        # The poster's handshake: the lean client's, plus its session cookie.
        self.transport = transport
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self.key.decode()}",
            "Sec-WebSocket-Version: 13",
            *self.extra_headers,
        ]
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def on_message(self, opcode, payload):
        self.received.append((time.time(), payload))
        if not self.got_first.done():
            self.got_first.set_result(None)

    def send_text(self, text):
        self.send_raw(client_frame(OP_TEXT, text))


def sign_up(port, username):
    """A member account through the real signup form; returns its session id."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/accounts/signup/")
    response = connection.getresponse()
    page = response.read().decode()
    csrf = SimpleCookie(response.getheader("Set-Cookie"))["csrftoken"].value
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    connection.request(
        "POST",
        "/accounts/signup/",
        urlencode(
            {
                "csrfmiddlewaretoken": token,
                "username": username,
                "password1": PASSWORD,
                "password2": PASSWORD,
            }
        ),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf}",
            "Referer": f"http://127.0.0.1:{port}/accounts/signup/",
        },
    )
    response = connection.getresponse()
    body = response.read().decode()
    if response.status != 302:
        raise RuntimeError(f"signup failed ({response.status}): {body[:500]}")
    return SimpleCookie(response.getheader("Set-Cookie"))["sessionid"].value
