"""What this server offers consumers beyond ASGI, and how they find it.

ASGI's place for a server's extensions is scope["extensions"], and a scope
holds plain data: code that copies or pickles a scope (Daphne's own test
application does) must be able to. So the scope only says the extension is
there, with the socket's number; the object itself stays in this module's
registry, looked up by that number.

    scope["extensions"]["realtime.broadcast"] == {"connection": 17}

`broadcast_writer(scope)` is then the socket's writer, whose
`send_broadcast_text(text)` writes a text message synchronously (the hub's
broadcast loop: no coroutine and ASGI message per socket); None under another
server or once the socket is closed.

Imports nothing: the consumer toolkit imports it under any server.
"""

import itertools

BROADCAST = "realtime.broadcast"

_writers: dict[int, object] = {}
_numbers = itertools.count(1)


def offer_broadcast(scope, protocol):
    """Register `protocol` as its socket's broadcast writer and say so in
    `scope`; `withdraw_broadcast(protocol)` when the connection is lost."""
    number = next(_numbers)
    _writers[number] = protocol
    protocol.broadcast_number = number
    scope.setdefault("extensions", {})[BROADCAST] = {"connection": number}


def withdraw_broadcast(protocol):
    _writers.pop(getattr(protocol, "broadcast_number", None), None)


def broadcast_writer(scope):
    """The writer the server offered this scope's socket, or None."""
    offer = (scope.get("extensions") or {}).get(BROADCAST)
    if not offer:
        return None
    return _writers.get(offer.get("connection"))
