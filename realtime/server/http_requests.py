"""Daphne's HTTP request and factory, extended: forwarding headers count
only from trusted proxies (forwarded.py), and a connection has a bounded
time to send each request header (HeaderDeadline). WebSocket handshakes are
HTTP requests until Daphne upgrades them, so both hold for them too."""

import weakref
from functools import partial

from daphne.http_protocol import HTTPFactory, WebRequest
from twisted.internet import reactor

from realtime.server.forwarded import is_trusted, remove_forwarding_headers


class HeaderDeadline:
    """Cuts a connection that has not sent a complete request header within
    `seconds` of being armed: at accept, and again when a response is done
    (keep-alive: the next request's header).

    Why: Twisted resets its (12 h) idle timeout on every byte, so a client
    sending half a header, or a byte now and then, held a connection (and a
    file descriptor) for good; a few thousand such made the server refuse
    everyone else (slowloris). nginx bounds this in front of the stack;
    reached directly, this does."""

    __slots__ = ("protocol", "seconds", "call")

    def __init__(self, protocol, seconds):
        # Weak: the protocol holds this deadline (through its requestFactory),
        # and a strong reference back made every connection a reference
        # cycle, left for the next full collection after it closed.
        self.protocol = weakref.ref(protocol)
        self.seconds = seconds
        self.call = None
        self.arm()

    def arm(self):
        if self.seconds and (self.call is None or not self.call.active()):
            self.call = reactor.callLater(self.seconds, self.expired)

    def met(self):
        if self.call is not None and self.call.active():
            self.call.cancel()
        self.call = None

    def expired(self):
        self.call = None
        protocol = self.protocol()
        if protocol is None:
            return  # the connection is gone
        # Twisted's HTTPFactory builds a negotiating wrapper around the
        # HTTPChannel (_channel), which alone holds the transport.
        channel = getattr(protocol, "_channel", protocol)
        transport = getattr(channel, "transport", None)
        if transport is not None and transport.connected and not transport.disconnecting:
            transport.abortConnection()


class RealtimeRequest(WebRequest):
    """Daphne's request with the two checks above."""

    def __init__(self, channel, *args, header_deadline=None, **kwargs):
        super().__init__(channel, *args, **kwargs)
        self.header_deadline = header_deadline

    def gotLength(self, length):
        # Called when the whole header is in (Twisted's allHeadersReceived).
        if self.header_deadline is not None:
            self.header_deadline.met()
        super().gotLength(length)

    def process(self):
        peer = getattr(self.client, "host", None)
        if not is_trusted(peer, self.server.trusted_proxies):
            remove_forwarding_headers(self.requestHeaders)
        return super().process()

    def finish(self):
        # A kept-alive connection has the same time for its next header.
        # Armed before Twisted goes on to a pipelined request, whose header
        # may already be in: that one meets it at once.
        if self.header_deadline is not None and getattr(self.channel, "persistent", False):
            self.header_deadline.arm()
        return super().finish()


class RealtimeHTTPFactory(HTTPFactory):
    """Daphne's HTTPFactory, making RealtimeRequests, each connection with
    its HeaderDeadline."""

    header_timeout = 0.0  # seconds; set by the server (REALTIME_HEADER_TIMEOUT_SECONDS)

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        deadline = HeaderDeadline(protocol, self.header_timeout)
        protocol.requestFactory = partial(RealtimeRequest, header_deadline=deadline)
        return protocol
