"""autobahn's per-connection debug line, formatted only when it is logged.

autobahn pretty-prints every new connection's ~40 settings for a debug line
(WebSocketProtocol._connectionMade) that is dropped unless debug logging is
on: a quarter of the server's CPU in a storm of 10,000 handshakes. Its module
looks `pformat` up at call time, so `install()` (RealtimeServer.run calls it)
puts a lazy one there.
"""

import pprint


class LazyPformat:
    """pprint.pformat, done only if the text is actually formatted."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __format__(self, spec):
        return format(pprint.pformat(self.value), spec)

    def __str__(self):
        return pprint.pformat(self.value)


def install():
    import autobahn.websocket.protocol as autobahn_protocol

    autobahn_protocol.pformat = LazyPformat
