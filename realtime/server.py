"""Daphne, extended (not forked) where stock Daphne 4.2 falls short.

Pinned to daphne==4.2.3 (requirements.txt): this module overrides
`WebSocketProtocol.handle_reply` and `Server.create_application`, whose
behaviour it relies on; re-check both before moving to another version.

What it changes, and why:
- Empty text and binary messages are sent. Stock Daphne tests
  `if message.get("text")`, so an empty message is silently dropped and an
  echo client waits forever.
- Outgoing messages are framed here and written straight to the transport
  when nothing else is pending (no compression, no fragmentation, nothing
  queued); autobahn's general `sendMessage` path costs several times more per
  message. A broadcast sends the same `str` object to every socket, so the
  frame built for the first socket is reused for the rest.
- Back-pressure on input: Daphne queues every received message for the
  application without bound. Here, once a socket has more than
  REALTIME_INBOUND_QUEUE messages waiting, Daphne stops reading from that TCP
  connection until the application has caught up, so a flooding client is
  slowed by TCP instead of growing the server's memory.
"""

import asyncio
import struct
from functools import partial

from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import reactor


def frame_header(opcode, length):
    """RFC 6455 header of a final, unmasked (server-to-client) frame."""
    first = 0x80 | opcode
    if length < 126:
        return struct.pack("!BB", first, length)
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


class InboundQueue(asyncio.Queue):
    """The queue Daphne hands the application as `receive`. Putting never
    fails (Daphne calls put_nowait from the protocol); taking a message out
    resumes a paused transport once the backlog is low again."""

    on_drained = None
    low_water = 0

    async def get(self):
        item = await super().get()
        if self.on_drained is not None and self.qsize() <= self.low_water:
            self.on_drained()
        return item


class RealtimeWebSocketProtocol(WebSocketProtocol):
    inbound_limit = 64
    reading_paused = False

    # -- input: back-pressure ------------------------------------------------

    def applicationCreateWorked(self, application_queue):
        application_queue.low_water = self.inbound_limit // 2
        application_queue.on_drained = self.resume_reading
        super().applicationCreateWorked(application_queue)

    def onMessage(self, payload, isBinary):
        super().onMessage(payload, isBinary)
        queue = getattr(self, "application_queue", None)
        if queue is not None and not self.reading_paused and queue.qsize() >= self.inbound_limit:
            self.reading_paused = True
            self.transport.pauseProducing()

    def resume_reading(self):
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resumeProducing()

    # -- output: empty messages, direct framing, broadcast frame reuse ---------

    def handle_reply(self, message):
        if message.get("type") != "websocket.send":
            return super().handle_reply(message)
        if self.state == self.STATE_CONNECTING:
            raise ValueError("Socket has not been accepted, so cannot send over it")
        text = message.get("text")
        data = message.get("bytes")
        if text is not None and data is not None:
            raise ValueError(f"WebSocket send message on {self!r} has both text and bytes")
        if text is not None:
            self.send_text(text)
        elif data is not None:
            self.send_frame(0x2, bytes(data))

    def send_text(self, text):
        cache = self.factory.last_text_frame
        if cache is not None and cache[0] is text:
            frame = cache[1]
        else:
            payload = text.encode("utf8")
            frame = frame_header(0x1, len(payload)) + payload
            # Keep the str itself alive with its frame, so `is` above can
            # never match a new object that reuses a freed id.
            self.factory.last_text_frame = (text, frame)
        self.write_frame(frame, 0x1, text)

    def send_frame(self, opcode, payload):
        self.write_frame(frame_header(opcode, len(payload)) + payload, opcode, payload)

    def write_frame(self, frame, opcode, content):
        if self.state != self.STATE_OPEN:
            return  # closing or closed: nothing more may be sent
        if (
            self._perMessageCompress is None
            and self.send_state == self.SEND_STATE_GROUND
            and not self.send_queue
        ):
            self.transport.write(frame)
            return
        # Compression negotiated or a write in progress: autobahn's own path.
        if isinstance(content, str):
            content = content.encode("utf8")
        self.sendMessage(content, opcode == 0x2)


class RealtimeServer(Server):
    """Daphne's Server with the protocol above and the inbound queue."""

    def __init__(self, *args, inbound_limit=None, on_start=None, **kwargs):
        super().__init__(*args, **kwargs)
        if inbound_limit is None:
            from django.conf import settings

            inbound_limit = settings.REALTIME_INBOUND_QUEUE
        self.inbound_limit = inbound_limit
        self.on_start = on_start

    def run(self):
        # Daphne builds its WebSocket factory inside run(); swap our protocol
        # in once the reactor starts, before any connection is read.
        reactor.callWhenRunning(self.install_protocol)
        super().run()

    def install_protocol(self):
        protocol = type(
            "ConfiguredRealtimeWebSocketProtocol",
            (RealtimeWebSocketProtocol,),
            {"inbound_limit": self.inbound_limit},
        )
        self.ws_factory.protocol = protocol
        self.ws_factory.last_text_frame = None
        if self.on_start is not None:
            self.on_start()

    def create_application(self, protocol, scope):
        # Same as Daphne's, with InboundQueue in place of asyncio.Queue.
        assert "application_instance" not in self.connections[protocol]
        input_queue = InboundQueue()
        scope.setdefault("asgi", {"version": "3.0"})
        application_instance = self.application(
            scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            application_instance, loop=asyncio.get_event_loop()
        )
        return input_queue
