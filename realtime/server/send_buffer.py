"""How many bytes a socket has written that the kernel has not taken yet:
the measure of the bounded send buffer (a client that stops reading); and
the queue of frames waiting behind a write in progress."""

from collections import deque


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
