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
- A message over --websocket-max-message-size closes with 1009. Stock Daphne
  leaves autobahn's `failByDrop` on, so the client only sees the TCP
  connection vanish; with it off, autobahn runs the closing handshake with
  the proper code (1009 oversize, 1002 protocol error, 1007 bad UTF-8).
- permessage-deflate (RFC 7692) is negotiated when the client offers it
  (REALTIME_PERMESSAGE_DEFLATE, on by default). Stock Daphne never sets
  autobahn's `perMessageCompressionAccept`, so it declines every offer.
  autobahn (pinned >= 26.10 in requirements.txt) bounds inflation by the same
  max message size, so a small compressed "bomb" closes with 1009 instead of
  filling memory.
- SIGTERM: every open socket gets a close frame with 1001 (going away) and
  up to REALTIME_SHUTDOWN_GRACE_SECONDS to answer it before the process
  exits; stock Daphne cancels the applications and drops the connections, so
  clients see 1006 and cannot tell a restart from a crash.
- Back-pressure on output (gorilla's bounded send buffer): a client that
  stops reading fills its TCP window, and stock Daphne then keeps every later
  message in Twisted's write buffer without bound. Here, once a socket has
  more than REALTIME_SEND_BUFFER_BYTES waiting to be written, the next message
  is dropped, the socket is closed with 1008 and the event is logged; nothing
  more is queued for it.
"""

import asyncio
import logging
import pprint
import struct
import zlib
from functools import partial

import autobahn.websocket.protocol as autobahn_protocol
from autobahn.websocket.compress import (
    PerMessageDeflate,
    PerMessageDeflateOffer,
    PerMessageDeflateOfferAccept,
)
from autobahn.util import encode_truncate
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import defer, reactor, tcp

from realtime import tracing

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008

slow_client_log = logging.getLogger("realtime.slow_clients")
SLOW_CLIENT_FAMILY = "websocket.SlowClient"  # trace family of these closes


class LazyPformat:
    """pprint.pformat, done only if the text is actually formatted."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __format__(self, spec):
        return format(pprint.pformat(self.value), spec)


# autobahn pretty-prints every new connection's ~40 settings for a debug line
# (WebSocketProtocol._connectionMade) that is dropped unless debug logging is
# on: a quarter of the server's CPU in a storm of 10,000 handshakes. Its module
# looks `pformat` up at call time, so this makes the formatting lazy.
autobahn_protocol.pformat = LazyPformat


def kernel_level_transport(transport):
    """The TCP transport under `transport`: TLS (and any other Twisted
    ProtocolWrapper) writes through to the `.transport` it wraps, and only
    the TCP one holds the bytes the kernel has not taken yet."""
    while transport is not None and not hasattr(transport, "dataBuffer"):
        transport = getattr(transport, "transport", None)
    return transport


def unsent_bytes(tcp_transport):
    """Bytes written to a Twisted TCP transport and not yet handed to the
    kernel (abstract.FileDescriptor keeps them in dataBuffer from `offset` on,
    plus the writes since its last doWrite in _tempDataBuffer)."""
    if tcp_transport is None:
        return 0
    return len(tcp_transport.dataBuffer) - tcp_transport.offset + tcp_transport._tempDataLen


class FastPerMessageDeflate(PerMessageDeflate):
    """autobahn's permessage-deflate with zlib level 1 for what we send
    (autobahn hard-codes level 6). Real-time messages are small and sent
    often; level 1 compresses 3-4 times faster for a few percent more bytes
    (measured on the Autobahn 12.* payloads). Inflating is unchanged."""

    COMPRESS_LEVEL = 1

    def start_compress_message(self):
        no_takeover = self.server_no_context_takeover if self._is_server else self.client_no_context_takeover
        if self._compressor is None or no_takeover:
            bits = self.server_max_window_bits if self._is_server else self.client_max_window_bits
            self._compressor = zlib.compressobj(self.COMPRESS_LEVEL, zlib.DEFLATED, -bits, self.mem_level)


def accept_permessage_deflate(offers):
    """autobahn's `perMessageCompressionAccept` hook: take the client's first
    permessage-deflate offer with the parameters it asked for (window bits,
    no-context-takeover), or none when it offers none."""
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)
    return None


def frame_header(opcode, length):
    """RFC 6455 header of a final, unmasked (server-to-client) frame."""
    first = 0x80 | opcode
    if length < 126:
        return struct.pack("!BB", first, length)
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


class InboundQueue:
    """The queue Daphne hands the application as `receive`. Putting never
    fails (Daphne calls put_nowait from the protocol); taking a message out
    resumes a paused transport once the backlog is low again.

    Not an asyncio.Queue: that holds three deques and an Event (~2.9 KiB per
    open socket, a tenth of an idle connection's memory) for features one
    reader and an unbounded put do not need. Here: a list (at most
    REALTIME_INBOUND_QUEUE long, as reading pauses there) and the single
    reader's future while it waits."""

    __slots__ = ("items", "waiter", "on_drained", "low_water")

    def __init__(self):
        self.items = []
        self.waiter = None
        self.on_drained = None
        self.low_water = 0

    def put_nowait(self, item):
        self.items.append(item)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def qsize(self):
        return len(self.items)

    async def get(self):
        while not self.items:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        item = self.items.pop(0)
        if self.on_drained is not None and len(self.items) <= self.low_water:
            self.on_drained()
        return item


class RealtimeWebSocketProtocol(WebSocketProtocol):
    def onOpen(self):
        # autobahn builds its PerMessageDeflate during the handshake from a
        # global registry; switch it to our faster level before any message.
        if type(self._perMessageCompress) is PerMessageDeflate:
            self._perMessageCompress.__class__ = FastPerMessageDeflate
        super().onOpen()
        # Handshake leftovers that autobahn and Daphne keep for the socket's
        # whole life, ~1 KiB of an idle socket's ~20: the raw request and
        # response, and the already fired Deferred that created the application.
        self.http_request_data = self.http_response_data = None
        self.application_deferred = None

    inbound_limit = 64
    reading_paused = False
    send_buffer_limit = 256 * 1024  # bytes; 0 = unbounded (stock Daphne)
    send_overflowed = False

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
        # A slow client being dropped stays paused (see drop_slow_client).
        if self.reading_paused and not self.send_overflowed:
            self.reading_paused = False
            self.transport.resumeProducing()

    # -- input: a fast path for simple frames ----------------------------------

    def _dataReceived(self, data):
        """Take complete, small, unfragmented, uncompressed data frames
        straight to onMessage; hand everything else to autobahn.

        Why: autobahn parses every frame through a general state machine (a
        FrameHeader, an XOR masker object, an incremental UTF-8 validator,
        five callbacks); for a 64-byte echo that was a quarter of the
        server's CPU. Here a frame is taken only when nothing of autobahn's
        is in progress (no buffered bytes, no open frame or fragmented
        message, no logging or timing options) and the frame is final, text
        or binary, RSV bits 0, masked, minimally encoded, under 64 KiB and
        within the frame and message size limits, and (text) valid UTF-8 by
        Python's strict decoder. The first frame that is anything else (a
        control frame, a fragment, a compressed or large message, bad UTF-8,
        a protocol error) and every byte after it go to autobahn, which
        handles or fails them exactly as before.
        """
        if (
            self.state == self.STATE_OPEN
            and not self.data
            and self.current_frame is None
            and not self.inside_message
            and self.applyMask
            and self.utf8validateIncoming
            and not (self.logOctets or self.logFrames or self.trackedTimings)
            and not self.autoPingTimeoutCall
        ):
            data = self.take_simple_frames(data)
            if not data:
                return
        super()._dataReceived(data)

    def take_simple_frames(self, data):
        """Deliver the leading simple frames of `data`; return the rest."""
        size = len(data)
        pos = 0
        stats = self.trafficStats
        while size - pos >= 6 and self.state == self.STATE_OPEN:
            first = data[pos]
            second = data[pos + 1]
            opcode = first & 0x0F
            # FIN set, RSV 0, text or binary; MASK set.
            if first & 0xF0 != 0x80 or opcode not in (0x1, 0x2) or not second & 0x80:
                break
            length = second & 0x7F
            header = 6
            if length == 126:
                if size - pos < 8:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                if length < 126:
                    break  # not minimally encoded: autobahn fails it
                header = 8
            elif length == 127:
                break  # 64 KiB and more: autobahn's path
            end = pos + header + length
            if end > size:
                break
            if 0 < self.maxFramePayloadSize < length or 0 < self.maxMessagePayloadSize < length:
                break
            key = data[end - length - 4 : end - length]
            payload = data[end - length : end]
            if length <= 1024:
                # Unmask through one big int: 6x faster than a masker object
                # for small payloads, slower for large ones.
                repeated = (key * (length // 4 + 1))[:length]
                payload = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big")
            else:
                from autobahn.websocket.xormasker import create_xor_masker

                payload = create_xor_masker(key, length).process(payload)
            if opcode == 0x1:
                try:
                    payload.decode("utf-8")
                except UnicodeDecodeError:
                    break  # autobahn closes with 1007
            stats.incomingOctetsWireLevel += end - pos
            stats.incomingOctetsWebSocketLevel += length
            stats.incomingOctetsAppLevel += length
            stats.incomingWebSocketFrames += 1
            stats.incomingWebSocketMessages += 1
            pos = end
            self.onMessage(payload, opcode == 0x2)
        return data[pos:] if pos else data

    # -- closing with protocol codes -------------------------------------------

    # Codes an endpoint may send (RFC 6455 7.4.1) besides 1000 and 3000-4999.
    # autobahn's public sendClose() refuses all of these, so an application's
    # 1008 (policy), 1009 (too big) or 1001 (going away) became a 1011 crash.
    PROTOCOL_CLOSE_CODES = {1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}

    def serverClose(self, code=None, reason=None):
        code = 1000 if code is None else code
        if code in self.PROTOCOL_CLOSE_CODES:
            # At most 123 bytes, cut on a character boundary (a reason with a
            # broken UTF-8 sequence would be a protocol error at the client).
            reason_bytes = encode_truncate(reason, 123) if reason else None
            self.sendCloseFrame(code=code, reasonUtf8=reason_bytes, isReply=False)
        else:
            self.sendClose(code=code, reason=reason or None)

    # -- output: empty messages, direct framing, broadcast frame reuse ---------

    def handle_reply(self, message):
        if message.get("type") == "websocket.close" and self.state != self.STATE_CONNECTING:
            # Daphne's own handling drops the ASGI close "reason"; keep it.
            self.serverClose(code=message.get("code"), reason=message.get("reason"))
            return
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
        if self.send_buffer_limit and self.send_backlog() > self.send_buffer_limit:
            # Checked before queuing, so one large message still goes out to
            # a client that reads; the bound is limit + one message.
            self.drop_slow_client()
            return
        if (
            self._perMessageCompress is None
            and self.send_state == self.SEND_STATE_GROUND
            and not self.send_queue
        ):
            self.write_now(frame)
            return
        # Compression negotiated or a write in progress: autobahn's own path.
        if isinstance(content, str):
            content = content.encode("utf8")
        self.sendMessage(content, opcode == 0x2)

    def write_now(self, frame):
        """`transport.write(frame)`, but straight into the socket when Twisted
        holds no unsent bytes for it.

        Why: Twisted's write only buffers and registers the socket for
        writability; the bytes leave on a later loop turn, after everything
        else this turn does. A tick to 1,500 local sockets therefore sent
        nothing until the last socket had been served (the first client got
        it ~50 ms late), and every echo paid an add and a remove of the writer
        (two epoll_ctl calls and an extra loop turn). Sending at once when
        nothing is queued keeps the byte order; anything else keeps Twisted's
        path: a partial send queues the rest, and a send error is left for
        Twisted's own write to meet and turn into connectionLost. Plain TCP
        only. Behind TLS, self.transport is a TLSMemoryBIOProtocol, which
        forwards unknown attributes (`TLS`, `socket`) to the TCP connection it
        wraps: only the isinstance test keeps plaintext frames off a TLS
        connection.
        """
        transport = self.transport
        if (
            isinstance(transport, tcp.Connection)
            and transport.TLS is False
            and transport.connected
            and not transport.disconnecting
            and not transport._tempDataLen
            and transport.offset == len(transport.dataBuffer)
        ):
            try:
                sent = transport.socket.send(frame)
            except OSError:  # would block, or the peer is gone: Twisted's write handles it
                sent = 0
            if sent == len(frame):
                return
            frame = frame[sent:]
        transport.write(frame)


    # -- output: bounded send buffer (slow clients) -----------------------------

    def send_backlog(self):
        tcp = self.__dict__.get("tcp_transport")
        if tcp is None:
            tcp = self.tcp_transport = kernel_level_transport(self.transport)
        return unsent_bytes(tcp)

    def drop_slow_client(self):
        """The client has not read what we sent (its TCP window is full and our
        buffer past the limit): close with 1008. The close frame waits behind
        the backlog; autobahn aborts the TCP connection when the client has
        not answered it within closeHandshakeTimeout (1 s), which frees the
        buffer. Further sends are dropped by write_frame (state CLOSING), and
        we stop reading, so its close reply is never seen: the abort is the
        normal end."""
        if self.send_overflowed:
            return
        self.send_overflowed = True
        backlog = self.send_backlog()
        peer = getattr(self, "client_addr", None)
        path = getattr(self, "path", b"?").decode("ascii")
        slow_client_log.warning(
            "closing slow client %s on %s with 1008: %d bytes unsent (limit %d)",
            peer, path, backlog, self.send_buffer_limit,
        )
        # sendCloseFrame: autobahn's public sendClose() refuses 1008.
        self.sendCloseFrame(code=CLOSE_POLICY_VIOLATION, reasonUtf8=b"send buffer full: client too slow", isReply=False)
        trace = tracing.new(SLOW_CLIENT_FAMILY, path)
        trace.errorf("closed with 1008: %d bytes unsent (limit %d), peer %s", backlog, self.send_buffer_limit, peer)
        trace.finish()
        # Stop reading it too: autobahn would go on parsing (and our consumer
        # answering, into the void) everything it sends until the abort, and a
        # fast sender pushed ~30 MiB through that way in the 1 s wait.
        if not self.reading_paused:
            self.reading_paused = True
            self.transport.pauseProducing()


def with_listen_backlog(description, backlog):
    """A Twisted tcp:/ssl: endpoint description with `backlog=` added (unless
    it says its own); other kinds (unix:, fd:) unchanged."""
    description = str(description)
    if description.split(":", 1)[0] in ("tcp", "ssl") and ":backlog=" not in description:
        return f"{description}:backlog={backlog}"
    return description


class RealtimeServer(Server):
    """Daphne's Server with the protocol above and the inbound queue."""

    def __init__(self, *args, inbound_limit=None, on_start=None, permessage_deflate=None,
                 shutdown_grace=None, send_buffer_limit=None, **kwargs):
        super().__init__(*args, **kwargs)
        from django.conf import settings

        if inbound_limit is None:
            inbound_limit = settings.REALTIME_INBOUND_QUEUE
        if permessage_deflate is None:
            permessage_deflate = settings.REALTIME_PERMESSAGE_DEFLATE
        if shutdown_grace is None:
            shutdown_grace = settings.REALTIME_SHUTDOWN_GRACE_SECONDS
        self.inbound_limit = inbound_limit
        if send_buffer_limit is None:
            send_buffer_limit = settings.REALTIME_SEND_BUFFER_BYTES
        self.send_buffer_limit = send_buffer_limit
        # Twisted listens with a backlog of 50: when thousands of clients
        # connect at once the kernel drops the SYNs beyond it and they retry
        # after 1, 3, 7... s, so a storm of 10,000 left clients hanging for
        # over 20 s. The kernel caps this at net.core.somaxconn.
        self.endpoints = [with_listen_backlog(e, settings.REALTIME_LISTEN_BACKLOG) for e in self.endpoints]
        self.permessage_deflate = permessage_deflate
        self.shutdown_grace = shutdown_grace
        self.on_start = on_start
        self.listening_ports = []

    def listen_success(self, port):
        self.listening_ports.append(port)  # to stop accepting on SIGTERM
        return super().listen_success(port)

    def run(self):
        # Daphne builds its WebSocket factory inside run(); swap our protocol
        # in once the reactor starts, before any connection is read.
        reactor.callWhenRunning(self.install_protocol)
        super().run()

    def install_protocol(self):
        self.ws_factory.setProtocolOptions(
            failByDrop=False,  # close with 1009/1002/1007 instead of dropping TCP
            perMessageCompressionAccept=(
                accept_permessage_deflate if self.permessage_deflate else (lambda offers: None)
            ),
        )
        # autobahn copies its ~29 options from the factory into each new
        # protocol's __dict__ unless the protocol already has them
        # (_connectionMade: `if not hasattr(self, attr)`). As class attributes
        # of the configured class they are found there and not copied: a
        # smaller __dict__, ~1.5 KiB less per open socket.
        options = {}
        for name in RealtimeWebSocketProtocol.CONFIG_ATTRS:
            value = getattr(self.ws_factory, name)
            options[name] = staticmethod(value) if callable(value) else value
        protocol = type(
            "ConfiguredRealtimeWebSocketProtocol",
            (RealtimeWebSocketProtocol,),
            {**options, "inbound_limit": self.inbound_limit, "send_buffer_limit": self.send_buffer_limit},
        )
        self.ws_factory.protocol = protocol
        self.ws_factory.last_text_frame = None
        # Runs in the same "before shutdown" phase as Daphne's
        # kill_all_applications; the reactor waits for our Deferred.
        reactor.addSystemEventTrigger("before", "shutdown", self.close_sockets_going_away)
        if self.on_start is not None:
            self.on_start()

    def close_sockets_going_away(self):
        """On SIGTERM: stop accepting, send 1001 to every open socket, and wait
        (at most shutdown_grace seconds) for the clients' close replies."""
        for port in self.listening_ports:
            port.stopListening()
        closing = []
        for protocol in list(self.connections):
            if isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN:
                # sendCloseFrame: autobahn's public sendClose() refuses 1001.
                protocol.sendCloseFrame(code=CLOSE_GOING_AWAY, reasonUtf8=b"server shutting down", isReply=False)
                # autobahn's `is_closed` Deferred fires when the TCP connection
                # is gone; chain a fresh Deferred so its own result is untouched.
                closed = defer.Deferred()
                protocol.is_closed.addBoth(lambda result, closed=closed: (closed.callback(None), result)[1])
                closing.append(closed)
        if not closing:
            return None
        everyone_closed = defer.DeferredList(closing, consumeErrors=True)
        everyone_closed.addTimeout(self.shutdown_grace, reactor)
        return everyone_closed.addErrback(lambda failure: None)  # grace over: exit anyway

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
