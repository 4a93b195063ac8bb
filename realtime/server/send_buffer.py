"""How many bytes a socket has written that the kernel has not taken yet:
the measure of the bounded send buffer (a client that stops reading); and
the queue of frames waiting behind a write in progress."""

import logging
from collections import deque

from realtime import tracing
from realtime.consumer_kit.close_codes import CLOSE_POLICY_VIOLATION
from realtime.ops import socket_stats

slow_client_log = logging.getLogger("realtime.slow_clients")
SLOW_CLIENT_FAMILY = "websocket.SlowClient"  # trace family of these closes


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


class SendQueue:
    """autobahn's send_queue (a deque of frames waiting behind a write in
    progress) that holds a deque only while something waits in it.

    Why: an empty deque is ~760 bytes, a twentieth of an idle socket, and
    almost every frame goes out directly (write_now) without it. autobahn
    only appends, pops from the left and asks the length."""

    __slots__ = ("items",)

    def __init__(self):
        self.items = None

    def append(self, item):
        if self.items is None:
            self.items = deque()
        self.items.append(item)

    def popleft(self):
        item = self.items.popleft()
        if not self.items:
            self.items = None
        return item

    def __len__(self):
        return 0 if self.items is None else len(self.items)


class BoundedSendBuffer:
    """Mixin for the WebSocket protocol (first in its MRO, so its
    dataReceived runs before any parsing): gorilla's bounded send buffer. The
    protocol checks send_backlog() against send_buffer_limit before it
    queues a frame and calls drop_slow_client() past it; and before it
    reads, with output_over_limit(), since what it reads is what makes it
    write (pongs, echoes, close replies, compressed or not)."""

    send_buffer_limit = 256 * 1024  # bytes; 0 = unbounded (stock Daphne)
    send_overflowed = False

    def send_backlog(self):
        tcp = self.__dict__.get("tcp_transport")
        if tcp is None:
            tcp = self.tcp_transport = kernel_level_transport(self.transport)
        return unsent_bytes(tcp)

    def dataReceived(self, data):
        """Read only while what waits for the client is within the send
        buffer limit; past it, close with 1008 (drop_slow_client) and drop
        what was read.

        Why: the application's frames are checked as they are queued
        (write_frame), but autobahn answers a ping with a pong, and a close
        with a close, straight to the transport. A client that sent pings and
        never read grew the server by every pong it did not take (178 MiB in
        11 s, the socket still open). Everything the server writes to a
        socket is an answer to something it read (broadcasts aside, which
        write_frame checks), so checking before each read bounds it all: at
        most the limit plus what one read's input makes the server write."""
        if self.state == self.STATE_OPEN and self.output_over_limit():
            self.drop_slow_client()
            return
        super().dataReceived(data)

    def output_over_limit(self):
        """True when more than send_buffer_limit bytes wait for the client,
        whatever wrote them. Measured without keeping the TCP transport in
        the socket's __dict__ (send_backlog does), since every read asks."""
        limit = self.send_buffer_limit
        return bool(limit) and unsent_bytes(kernel_level_transport(self.transport)) > limit

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
            peer,
            path,
            backlog,
            self.send_buffer_limit,
            extra={"socket_path": path, "client": "{}:{}".format(*peer) if peer else None},  # JSON logs
        )
        # sendCloseFrame: autobahn's public sendClose() refuses 1008.
        self.sendCloseFrame(code=CLOSE_POLICY_VIOLATION, reasonUtf8=b"send buffer full: client too slow", isReply=False)
        socket_stats.slow_client_closed(self)
        trace = tracing.new(SLOW_CLIENT_FAMILY, path)
        trace.errorf("closed with 1008: %d bytes unsent (limit %d), peer %s", backlog, self.send_buffer_limit, peer)
        trace.finish()
        # Stop reading it too: autobahn would go on parsing (and our consumer
        # answering, into the void) everything it sends until the abort, and a
        # fast sender pushed ~30 MiB through that way in the 1 s wait.
        if not self.reading_paused:
            self.reading_paused = True
            self.transport.pauseProducing()
