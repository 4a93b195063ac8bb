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
import struct
import termios

from realtime.server.send_buffer import kernel_level_transport


def unread_bytes(tcp_transport):
    """Bytes the kernel has received for this socket that the server has not
    read yet (FIONREAD); 0 when it cannot tell."""
    sock = getattr(tcp_transport, "socket", None)
    if sock is None:
        return 0
    try:
        answer = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (OSError, ValueError):  # closed meanwhile
        return 0
    return struct.unpack("i", answer)[0]


class PatientKeepalive:
    """Mixin for the WebSocket protocol, before autobahn's class in the MRO.
    autobahn counts every byte read in trafficStats.incomingOctetsWireLevel
    (the input fast path counts its frames there too), so a read since the
    ping is one comparison, nothing per message."""

    bytes_in_at_ping = 0

    def _sendAutoPing(self):
        if self.autoPingTimeoutCall is not None:
            return  # one ping outstanding at a time; its timeout is running
        self.bytes_in_at_ping = self.trafficStats.incomingOctetsWireLevel
        super()._sendAutoPing()

    def onAutoPingTimeout(self):
        self.autoPingTimeoutCall = None
        if not self.heard_since_ping():
            super().onAutoPingTimeout()
            return
        # Alive: wait again, counting from now, for the pong or any byte.
        self.bytes_in_at_ping = self.trafficStats.incomingOctetsWireLevel
        self.autoPingTimeoutCall = self.factory._batched_timer.call_later(self.autoPingTimeout, self.onAutoPingTimeout)

    def heard_since_ping(self):
        if self.trafficStats.incomingOctetsWireLevel != self.bytes_in_at_ping:
            return True
        return unread_bytes(kernel_level_transport(self.transport)) > 0
