"""Daphne's Server with this project's protocol, inbound queue, listen
backlog and SIGTERM handling (1001 to every open socket)."""

import asyncio
import logging
import time
from functools import partial

from daphne.server import Server
from twisted.internet import defer, reactor
from twisted.internet.interfaces import ISSLTransport

from realtime import housekeeping
from realtime.ops import logs, socket_stats
from realtime.server import frames, internals, lazy_debug
from realtime.server.compression import DeflatePolicy
from realtime.server.conf import setting
from realtime.server.direct_dispatch import install_direct_dispatch
from realtime.server.extensions import offer_broadcast
from realtime.server.forwarded import parse_trusted_proxies
from realtime.server.gc_schedule import schedule_full_collections
from realtime.server.http_requests import RealtimeHTTPFactory
from realtime.server.inbound import InboundQueue
from realtime.server.protocol import RealtimeWebSocketProtocol
from realtime.server.reuse_port import adopt, take_tcp_endpoints

logger = logging.getLogger(__name__)


def with_listen_backlog(description, backlog):
    """A Twisted tcp:/ssl: endpoint description with `backlog=` added (unless
    it says its own); other kinds (unix:, fd:) unchanged."""
    description = str(description)
    if description.split(":", 1)[0] in ("tcp", "ssl") and ":backlog=" not in description:
        return f"{description}:backlog={backlog}"
    return description


def websocket_scheme(protocol):
    """ "wss" or "ws", for the WebSocket scope's "scheme", which Daphne leaves
    out (the ASGI default is "ws", even on a TLS port). The Origin check
    needs it: a page of https://host may open wss://host, not ws://host.
    Behind a proxy (--proxy-headers) the proxy's X-Forwarded-Proto says it;
    Daphne parses that header, only when X-Forwarded-For comes with it."""
    forwarded = getattr(protocol, "client_scheme", None)
    if forwarded:
        return "wss" if forwarded.strip().lower() in ("https", "wss") else "ws"
    return "wss" if ISSLTransport(protocol.transport, None) is not None else "ws"


class RealtimeServer(Server):
    """Daphne's Server with the protocol above and the inbound queue."""

    def __init__(
        self,
        *args,
        inbound_limit=None,
        on_start=None,
        permessage_deflate=None,
        shutdown_grace=None,
        send_buffer_limit=None,
        **kwargs,
    ):
        # First: on releases whose internals moved, stop before anything else.
        internals.check_at_start(allow_moved=setting("REALTIME_ALLOW_MOVED_INTERNALS"))
        super().__init__(*args, **kwargs)

        if inbound_limit is None:
            inbound_limit = setting("REALTIME_INBOUND_QUEUE")
        if permessage_deflate is None:
            permessage_deflate = setting("REALTIME_PERMESSAGE_DEFLATE")
        if shutdown_grace is None:
            shutdown_grace = setting("REALTIME_SHUTDOWN_GRACE_SECONDS")
        self.inbound_limit = inbound_limit
        if send_buffer_limit is None:
            send_buffer_limit = setting("REALTIME_SEND_BUFFER_BYTES")
        self.send_buffer_limit = send_buffer_limit
        self.gc_full_seconds = setting("REALTIME_GC_FULL_SECONDS")
        logger.info("unmasking client frames: %s", frames.use_compiled_mask(setting("REALTIME_COMPILED_MASK")))
        # Twisted listens with a backlog of 50: when thousands of clients
        # connect at once the kernel drops the SYNs beyond it and they retry
        # after 1, 3, 7... s, so a storm of 10,000 left clients hanging for
        # over 20 s. The kernel caps this at net.core.somaxconn.
        self.endpoints = [with_listen_backlog(e, setting("REALTIME_LISTEN_BACKLOG")) for e in self.endpoints]
        self.shared_listeners = []
        if setting("REALTIME_REUSE_PORT"):  # several processes behind one port (reuse_port says why)
            self.shared_listeners, self.endpoints = take_tcp_endpoints(
                self.endpoints, setting("REALTIME_LISTEN_BACKLOG")
            )
        self.permessage_deflate = permessage_deflate
        # Checked here, so a bad REALTIME_DEFLATE_* stops the start with one line.
        self.deflate_policy = DeflatePolicy.from_settings() if permessage_deflate else None
        try:
            self.trusted_proxies = parse_trusted_proxies(setting("REALTIME_TRUSTED_PROXIES"))
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None  # one line, no traceback
        self.header_timeout = setting("REALTIME_HEADER_TIMEOUT_SECONDS")
        self.shutdown_grace = shutdown_grace
        self.on_start = on_start
        self.listening_ports = []
        socket_stats.watch(self)  # Prometheus counts this server's sockets
        self.action_logger = logs.access_logger(self.action_logger)  # JSON lines when LOG_FORMAT=json

    # Daphne's checkers walk every connection (the timeout checker also
    # sends the keepalive pings that are due) and re-arm themselves 1 and 2 s
    # later. Each pass is moved to the next housekeeping moment, half past a
    # second (realtime/housekeeping.py): with 5,000 sockets a pass that sent
    # their pings stopped the loop for tens of milliseconds, and one that
    # drifted onto the whole second delayed that tick's push by as much.
    def application_checker(self):
        self.at_housekeeping(super().application_checker)

    def timeout_checker(self):
        self.at_housekeeping(super().timeout_checker)

    @staticmethod
    def at_housekeeping(check):
        wait = housekeeping.seconds_until(time.time(), slack=housekeeping.LATE_SLACK)
        if wait:
            reactor.callLater(wait, check)
        else:
            check()

    def listen_success(self, port):
        self.listening_ports.append(port)  # to stop accepting on SIGTERM
        return super().listen_success(port)

    def run(self):
        # Daphne builds its WebSocket factory inside run(); swap our protocol
        # in once the reactor starts, before any connection is read.
        reactor.callWhenRunning(self.install_protocol)
        reactor.callWhenRunning(self.adopt_shared_listeners)
        # What this server changes in its libraries, each said here.
        lazy_debug.install()
        install_direct_dispatch(reactor)
        super().run()

    def adopt_shared_listeners(self):
        # After install_protocol (registered first): Daphne made its HTTP factory in run().
        adopt(reactor, self.shared_listeners, self.http_factory, self.listen_success)

    def install_protocol(self):
        self.full_collections = schedule_full_collections(self.gc_full_seconds)
        # Daphne's run() builds its HTTPFactory and listens with it; no
        # connection is accepted before the reactor runs this.
        self.http_factory.__class__ = RealtimeHTTPFactory
        self.http_factory.header_timeout = self.header_timeout
        # failByDrop off: close with 1009/1002/1007 instead of dropping TCP.
        self.ws_factory.setProtocolOptions(failByDrop=False)
        # autobahn copies its ~29 options from the factory into each new
        # protocol's __dict__ unless the protocol already has them
        # (_connectionMade: `if not hasattr(self, attr)`). As class attributes
        # of the configured class they are found there and not copied: a
        # smaller __dict__, ~1.5 KiB less per open socket.
        options = {}
        for name in RealtimeWebSocketProtocol.CONFIG_ATTRS:
            if name == "perMessageCompressionAccept":
                continue  # the protocol's own method negotiates (deflate_policy)
            value = getattr(self.ws_factory, name)
            options[name] = staticmethod(value) if callable(value) else value
        protocol = type(
            "ConfiguredRealtimeWebSocketProtocol",
            (RealtimeWebSocketProtocol,),
            {
                **options,
                "inbound_limit": self.inbound_limit,
                "send_buffer_limit": self.send_buffer_limit,
                "deflate_policy": self.deflate_policy,
            },
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
        (at most shutdown_grace seconds) until their TCP connections are
        closed, in order, after the clients' close replies (protocol.go_away)."""
        for port in self.listening_ports:
            port.stopListening()
        closing = [
            protocol.go_away()
            for protocol in list(self.connections)
            if isinstance(protocol, RealtimeWebSocketProtocol) and protocol.state == protocol.STATE_OPEN
        ]
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
        if scope.get("type") == "websocket":
            if "scheme" not in scope:
                scope["scheme"] = websocket_scheme(protocol)
            # The hub writes a broadcast to each local socket synchronously
            # through it (send_broadcast_text), not one ASGI send each.
            if isinstance(protocol, RealtimeWebSocketProtocol):
                offer_broadcast(scope, protocol)
        # A socket's send goes straight to its protocol (asgi_send).
        send = (
            protocol.asgi_send
            if isinstance(protocol, RealtimeWebSocketProtocol)
            else partial(self.handle_reply, protocol)
        )
        application_instance = self.application(scope=scope, receive=input_queue.get, send=send)
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            application_instance, loop=asyncio.get_event_loop()
        )
        return input_queue
