"""Daphne's WebSocket protocol, extended: empty messages, close codes with
reasons, a fast path for simple frames in and out, one frame per broadcast,
input back-pressure and a bounded send buffer. The module docstring of
`realtime.server` says why each exists."""

import time

from autobahn.util import encode_truncate
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import defer, tcp
from twisted.web import http

from realtime.consumer_kit.close_codes import CLOSE_GOING_AWAY
from realtime.ops import socket_stats
from realtime.server.compression import EXTENSION_NAME, RealtimePerMessageDeflate, choose_agreement, split_extensions
from realtime.server.extensions import withdraw_broadcast
from realtime.server.frames import OP_BINARY, OP_TEXT, server_frame, server_payload_size
from realtime.server.keepalive import PatientKeepalive
from realtime.server.send_buffer import BoundedSendBuffer, SendQueue
from realtime.server.simple_frames import SimpleFrameInput
from realtime.server.strict import RepliesBeforeFailure

# Module constants: read per socket of a broadcast without a class lookup.
OPEN = WebSocketProtocol.STATE_OPEN
SEND_STATE_GROUND = WebSocketProtocol.SEND_STATE_GROUND


class RealtimeWebSocketProtocol(
    BoundedSendBuffer, RepliesBeforeFailure, SimpleFrameInput, PatientKeepalive, WebSocketProtocol
):
    deflate_policy = None  # a compression.DeflatePolicy when compression is on
    deflate_offers = ()

    def _connectionMade(self):
        super()._connectionMade()
        self.send_queue = SendQueue()

    def onOpen(self):
        # autobahn builds its PerMessageDeflate during the handshake from a
        # global registry; switch it to ours before any message.
        compress = self._perMessageCompress
        if compress is not None:
            compress.__class__ = RealtimePerMessageDeflate
            compress.min_bytes = self.deflate_policy.min_bytes
        self.__dict__.pop("deflate_offers", None)
        super().onOpen()
        # Handshake leftovers that autobahn and Daphne keep for the socket's
        # whole life, ~1 KiB of an idle socket's ~20: the raw request and
        # response, and the already fired Deferred that created the application.
        self.http_request_data = self.http_response_data = None
        self.application_deferred = None
        self.release_http_channel()
        socket_stats.opened(self)

    def onClose(self, wasClean, code, reason):
        if "server" not in self.__dict__:
            # autobahn refused the handshake (a bad key, an unparsable Origin)
            # before Daphne's onConnect ran: the client has its 400 and there
            # is no application to tell. Daphne's onClose would raise an
            # AttributeError, a traceback in the log per refused handshake.
            return
        super().onClose(wasClean, code, reason)
        socket_stats.closed(self, wasClean)  # its traffic into the per-route totals, its close code

    # -- going away (SIGTERM) -------------------------------------------------

    gone = None  # while the server shuts down: fires when this TCP connection is closed

    def go_away(self):
        """Send close 1001 and return a Deferred that fires once the TCP
        connection is closed (after the client's close reply, or never if it
        does not answer: the server's grace period bounds the wait)."""
        self.gone = defer.Deferred()
        # sendCloseFrame: autobahn's public sendClose() refuses 1001.
        self.sendCloseFrame(code=CLOSE_GOING_AWAY, reasonUtf8=b"server shutting down", isReply=False)
        return self.gone

    def dropConnection(self, abort=False):
        """While going away, close TCP in order (FIN) rather than abort it.

        Why: once the client has answered our close frame, autobahn aborts
        the connection (an RST), and marks it closed before the TCP
        connection has even gone, so the process exited with the RST in
        flight. A reset may reach a browser before it has read the close
        frame (the kernel then discards what it has not read): the page
        saw 1006, and in any case Chromium reported the close as not clean.
        An orderly close flushes the close frame, then sends a FIN."""
        if self.gone is not None:
            abort = False
        super().dropConnection(abort)

    def connectionLost(self, reason):
        withdraw_broadcast(self)
        super().connectionLost(reason)
        gone, self.gone = self.gone, None
        if gone is not None:
            gone.callback(None)
        self.break_cycles()

    def break_cycles(self):
        """Drop this closed connection's references back to itself, so that
        reference counting frees it (and all it holds) at once, instead of the
        next full collection (every REALTIME_GC_FULL_SECONDS).

        autobahn resolves `is_open` and `is_closed` with the protocol itself:
        each fired Deferred keeps it as its result, and the protocol keeps
        them. They are replaced by ones fired with None."""
        self.is_open = defer.succeed(None)
        self.is_closed = defer.succeed(None)

    def release_http_channel(self):
        """Unregister the HTTP channel that Daphne upgraded from as the TCP
        transport's producer.

        Why: it is the only thing that keeps that channel, its request (raw
        headers, parsed headers, body buffer, addresses) and their dicts alive
        for the socket's life, ~3 KiB of an idle socket. As a producer it does
        nothing any more: the upgrade request never finishes, so the channel
        never pauses or resumes the transport, and it has no request producer
        to stop. Plain TCP only (TLS wraps the producer in its own object).

        The channel and its request refer to each other (channel.requests,
        request.channel): a reference cycle, which only a full collection
        frees, and those run every REALTIME_GC_FULL_SECONDS
        (realtime/server/gc_schedule.py). Emptying the channel's request list
        breaks it, so reference counting frees both as soon as the channel
        is unregistered (~2.4 KiB of an idle socket held until then)."""
        transport = self.transport
        if isinstance(transport, tcp.Connection) and isinstance(transport.producer, http.HTTPChannel):
            channel = transport.producer
            transport.unregisterProducer()
            channel.requests.clear()

    # -- permessage-deflate negotiation ------------------------------------------

    def _parseExtensionsHeader(self, header, removeQuotes=True):
        """Keep the client's permessage-deflate offers for
        perMessageCompressionAccept and show autobahn one plain offer.

        Why: autobahn fails the whole handshake (HTTP 400) when any offer has
        a parameter it cannot parse, a window of 8 included, where RFC 7692
        says to decline that offer and try the next, and its parsed offers
        drop the client's window hint. Only the server's handshake calls this.
        """
        extensions = super()._parseExtensionsHeader(header, removeQuotes)
        others, self.deflate_offers = split_extensions(extensions)
        return (others + [(EXTENSION_NAME, {})]) if self.deflate_offers else others

    def perMessageCompressionAccept(self, offers):
        if self.deflate_policy is None:
            return None
        return choose_agreement(self.deflate_offers, self.deflate_policy)

    inbound_limit = 64
    reading_paused = False

    # -- input: back-pressure ------------------------------------------------

    def applicationCreateWorked(self, application_queue):
        application_queue.low_water = self.inbound_limit // 2
        super().applicationCreateWorked(application_queue)

    def onMessage(self, payload, isBinary):
        # Daphne's onMessage, without its two debug log calls per message.
        if isBinary:
            self.queue_message({"type": "websocket.receive", "bytes": payload})
        else:
            self.queue_message({"type": "websocket.receive", "text": payload.decode("utf8")})

    def queue_message(self, message):
        """Hand a received message to the application; pause reading once
        inbound_limit messages wait."""
        if self.muted:
            return
        self.last_ping = time.time()  # Daphne's keepalive pings count from here
        queue = self.application_queue
        queue.put_nowait(message)
        if not self.reading_paused and queue.qsize() >= self.inbound_limit:
            self.reading_paused = True
            self.transport.pauseProducing()
            socket_stats.read_paused(self)
            # Called back only while paused, not on every message taken.
            queue.on_drained = self.resume_reading

    def resume_reading(self):
        # A slow client being dropped stays paused (see drop_slow_client), and
        # so does one whose failure is held (strict.py).
        if self.reading_paused and not self.send_overflowed and self.held_failure is None:
            self.reading_paused = False
            self.application_queue.on_drained = None
            self.transport.resumeProducing()

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

    async def asgi_send(self, message):
        """The application's ASGI `send`: Daphne's Server.handle_reply for this
        socket (nothing is sent once the connection is gone), without the
        partial and the HTTP header check it runs for every message."""
        connection = self.server.connections.get(self)
        if connection is None or connection.get("disconnected", None):
            return
        self.handle_reply(message)

    def handle_reply(self, message):
        kind = message.get("type")
        if kind != "websocket.send":
            if kind == "websocket.close" and self.state != self.STATE_CONNECTING:
                # Daphne's own handling drops the ASGI close "reason"; keep it.
                self.serverClose(code=message.get("code"), reason=message.get("reason"))
                return
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
            self.send_frame(OP_BINARY, bytes(data))

    def send_text(self, text):
        cache = self.factory.last_text_frame
        if cache is not None and cache[0] is text:
            frame = cache[1]
        else:
            payload = text.encode("utf8")
            frame = server_frame(OP_TEXT, payload)
            # Keep the str itself alive with its frame, so `is` above can
            # never match a new object that reuses a freed id.
            self.factory.last_text_frame = (text, frame)
        self.write_frame(frame, OP_TEXT, text)

    def send_broadcast_text(self, text):
        """send_text for one socket of a broadcast, called synchronously by
        the hub in one loop over a process's sockets (no coroutine, ASGI
        message or Daphne lookup per socket). A tick to 5,000 local sockets
        repeats this 5,000 times back to back, so the common case is checked
        inline: open, uncompressed, nothing queued by autobahn or Twisted,
        then one send() of the shared frame. With nothing queued the send
        buffer is empty, so the bounded-buffer check cannot trip; every other
        case (and a partial send) takes send_text's full path."""
        cache = self.factory.last_text_frame
        transport = self.transport
        if (
            cache is not None
            and cache[0] is text
            and self.state == OPEN
            and self._perMessageCompress is None
            and self.send_state == SEND_STATE_GROUND
            and self.send_queue.items is None
            and transport.__class__ is tcp.Server  # plain TCP (write_now says why)
            and transport.TLS is False
            and transport.connected
            and not transport.disconnecting
            and not transport._tempDataLen
            and transport.offset == len(transport.dataBuffer)
        ):
            frame = cache[1]
            self.count_sent(frame)
            try:
                sent = transport.socket.send(frame)
            except OSError:  # would block, or the peer is gone: Twisted's write handles it
                sent = 0
            if sent == len(frame):
                return
            transport.write(frame[sent:])
            return
        self.send_text(text)

    def send_frame(self, opcode, payload):
        self.write_frame(server_frame(opcode, payload), opcode, payload)

    def write_frame(self, frame, opcode, content):
        if self.state != self.STATE_OPEN:
            return  # closing or closed: nothing more may be sent
        compress = self._perMessageCompress
        # Small messages go out uncompressed even when compression is on
        # (compression.py says why).
        plain = compress is None or not compress.worth_compressing(server_payload_size(frame))
        direct = plain and self.send_state == self.SEND_STATE_GROUND and self.send_queue.items is None
        # Nothing unsent means a backlog of 0, under any limit: no need to
        # measure it.
        if direct and self.write_now(frame):
            self.count_sent(frame)
            return
        if self.send_buffer_limit and self.send_backlog() > self.send_buffer_limit:
            # Checked before queuing, so one large message still goes out to
            # a client that reads; the bound is limit + one message.
            self.drop_slow_client()
            return
        if direct:
            self.count_sent(frame)
            self.transport.write(frame)
            return
        # Compressed, or a write in progress: autobahn's own path.
        if isinstance(content, str):
            content = content.encode("utf8")
        self.sendMessage(content, opcode == OP_BINARY, doNotCompress=plain)

    def count_sent(self, frame):
        """autobahn counts what goes through its own path; this one is ours."""
        stats = self.trafficStats
        stats.outgoingWebSocketMessages += 1
        stats.outgoingOctetsWireLevel += len(frame)

    def write_now(self, frame):
        """Write `frame` straight into the socket if Twisted holds no unsent
        bytes for it, and return True; return False (nothing written) if it
        does, or the transport is not plain TCP.

        Why: Twisted's write only buffers and registers the socket for
        writability; the bytes leave on a later loop turn, after everything
        else this turn does. A tick to 1,500 local sockets therefore sent
        nothing until the last socket had been served (the first client got
        it ~50 ms late), and every echo paid an add and a remove of the writer
        (two epoll_ctl calls and an extra loop turn). Sending at once when
        nothing is queued keeps the byte order; a partial send queues the
        rest with Twisted's write, and a send error is left for Twisted's own
        write to meet and turn into connectionLost. Plain TCP only. Behind
        TLS, self.transport is a TLSMemoryBIOProtocol, which forwards unknown
        attributes (`TLS`, `socket`) to the TCP connection it wraps: only the
        isinstance test keeps plaintext frames off a TLS connection.
        """
        transport = self.transport
        if not (
            isinstance(transport, tcp.Connection)
            and transport.TLS is False
            and transport.connected
            and not transport.disconnecting
            and not transport._tempDataLen
            and transport.offset == len(transport.dataBuffer)
        ):
            return False
        try:
            sent = transport.socket.send(frame)
        except OSError:  # would block, or the peer is gone: Twisted's write handles it
            sent = 0
        if sent != len(frame):
            transport.write(frame[sent:])
        return True
