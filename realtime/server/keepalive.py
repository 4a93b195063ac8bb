"""Keepalive pings that do not drop the live sockets of a busy server.

Daphne's timeout checker sends a ping every `--ping-interval` (20 s) and
autobahn drops the TCP connection, without a close frame, when the pong to
that ping has not come `--ping-timeout` (30 s) later. Two things in that
dropped sockets whose client was alive:

- Daphne sends the next ping whether the last was answered or not.
  autobahn then waits for the pong to the newest ping only, and the timer of
  the earlier one still runs: a pong that came after the next ping was sent
  (a client, or a server, busy for longer than the interval) did not count,
  and the earlier timer dropped the socket.
- The wait counts from the ping, not from what arrived since. A pong
  waiting in the kernel's receive queue of a server too busy to read it
  dropped the socket the same way.

Here a socket has at most one ping outstanding, and its timeout drops it
only when nothing at all came from the client in the whole wait: no byte
read since the ping (any frame: an earlier pong, a message) and nothing
waiting unread in the kernel's receive queue. Otherwise the wait starts
again from now, with the ping still outstanding: the socket is dropped
`--ping-timeout` after the last sign of life, not after the ping.
"""

import fcntl
import os
import struct
import termios
import time

from realtime.ops import socket_stats
from realtime.server.frames import OP_PING, server_frame
from realtime.server.send_buffer import kernel_level_transport, unsent_bytes


def kernel_queue_bytes(tcp_transport, request):
    """The byte count the kernel gives for this socket's `request` ioctl
    (FIONREAD: received, not read yet; TIOCOUTQ: written, not acknowledged
    by the peer yet); None when it cannot tell."""
    sock = getattr(tcp_transport, "socket", None)
    if sock is None:
        return None
    try:
        answer = fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0")
    except (OSError, ValueError):  # closed meanwhile
        return None
    return struct.unpack("i", answer)[0]


def unread_bytes(tcp_transport):
    """Bytes the kernel has received for this socket that the server has not
    read yet; 0 when it cannot tell."""
    return kernel_queue_bytes(tcp_transport, termios.FIONREAD) or 0


def ping_acknowledged(tcp_transport):
    """True when everything written to this socket, the last ping included,
    has been acknowledged by the client's TCP: nothing left in Twisted's
    buffer and nothing unsent or unacknowledged in the kernel.
    A socket dropped with its ping acknowledged had a client machine that
    took the ping and a program that did not answer it; one dropped with
    its ping unacknowledged had a client that stopped reading or could no
    longer be reached. Either way nothing waited on the server."""
    return not unsent_bytes(tcp_transport) and kernel_queue_bytes(tcp_transport, termios.TIOCOUTQ) == 0


class PatientKeepalive:
    """Mixin for the WebSocket protocol, before autobahn's class in the MRO.
    autobahn counts every byte read in trafficStats.incomingOctetsWireLevel
    (the input fast path counts its frames there too), so a read since the
    ping is one comparison, nothing per message."""

    bytes_in_at_ping = 0

    def _sendAutoPing(self):
        """autobahn's auto-ping (the same payload: send time, sequence number,
        random bytes), written as one prebuilt frame when nothing else is
        being sent, past autobahn's general frame builder."""
        if self.autoPingTimeoutCall is not None:
            return  # one ping outstanding at a time; its timeout is running
        self.bytes_in_at_ping = self.trafficStats.incomingOctetsWireLevel
        if self.autoPingInterval or self.state != self.STATE_OPEN:
            super()._sendAutoPing()  # autobahn's own schedule: its own path
            return
        self.autoPingPendingCall = None
        self.autoPingPendingSent = time.time_ns()
        self.autoPingPendingSeq += 1
        self.autoPingPending = payload = struct.pack(
            ">QL", self.autoPingPendingSent, self.autoPingPendingSeq
        ) + os.urandom(self.autoPingSize - 12)
        if not (self.send_state == self.SEND_STATE_GROUND and self.write_now(server_frame(OP_PING, payload))):
            self.sendPing(payload)
        if self.autoPingTimeout:
            self.autoPingTimeoutCall = self.factory._batched_timer.call_later(
                self.autoPingTimeout, self.onAutoPingTimeout
            )

    def pong_received(self, payload, wire_bytes):
        """A pong taken by the input fast path (simple_frames.py): what
        autobahn does with one when no ping interval of its own runs."""
        self.trafficStats.incomingOctetsWireLevel += wire_bytes
        if self.autoPingPending is not None and payload == self.autoPingPending:
            sent = self.autoPingPendingSent
            received = time.time_ns()
            self.onAutoPong(sent, self.autoPingPendingSeq, received, (received - sent) // 10**6, payload)
            call = self.autoPingTimeoutCall
            if call is not None:
                call.cancel()
            self.autoPingPending = self.autoPingPendingSent = self.autoPingTimeoutCall = None
            if self.autoPingInterval:
                self.autoPingPendingCall = self.factory._batched_timer.call_later(
                    self.autoPingInterval, self._sendAutoPing
                )
        self._onPong(payload)

    def onAutoPingTimeout(self):
        self.autoPingTimeoutCall = None
        if not self.heard_since_ping():
            socket_stats.keepalive_dropped(self, ping_acknowledged(kernel_level_transport(self.transport)))
            super().onAutoPingTimeout()
            return
        # Alive: wait again, counting from now, for the pong or any byte.
        self.bytes_in_at_ping = self.trafficStats.incomingOctetsWireLevel
        self.autoPingTimeoutCall = self.factory._batched_timer.call_later(self.autoPingTimeout, self.onAutoPingTimeout)

    def heard_since_ping(self):
        if self.trafficStats.incomingOctetsWireLevel != self.bytes_in_at_ping:
            return True
        return unread_bytes(kernel_level_transport(self.transport)) > 0
