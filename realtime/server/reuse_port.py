"""Several server processes behind one address: each binds its TCP port with
SO_REUSEPORT (REALTIME_REUSE_PORT=1), and the kernel spreads new
connections over the processes listening there.

Why: one process holds at most its open-file limit of sockets (20,000 here,
hard) and uses one core; 100,000 sockets on one address need five or more
processes, and a proxy in front (nginx) would hold every socket twice more.

Twisted's TCP endpoints cannot set the option (and this Twisted has no
`fd:` endpoint), so the socket is made here, bound and listening, in place
of Daphne's tcp: endpoint; once the reactor runs, the server adopts it
(`adopt`). Connections that arrive before wait in the kernel's backlog.
Off by default: with it, a second server started on a port already in use
shares it instead of failing with "address in use".
"""

import re
import socket


def endpoint_fields(description):
    """The fields of a Twisted `tcp:` endpoint description (positional port
    included), or None for other kinds."""
    kind, _, rest = str(description).partition(":")
    if kind != "tcp":
        return None
    fields = {}
    for position, part in enumerate(re.split(r"(?<!\\):", rest)):
        name, equals, value = part.partition("=")
        if equals:
            fields[name] = value.replace("\\:", ":")
        elif position == 0:
            fields["port"] = name
    return fields


def shared_listener(fields, backlog):
    host = fields.get("interface", "0.0.0.0")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, int(fields["port"])))
    listener.listen(int(fields.get("backlog", backlog)))
    listener.setblocking(False)
    return listener


def take_tcp_endpoints(descriptions, backlog):
    """(listening SO_REUSEPORT sockets for the tcp: descriptions, the other
    descriptions unchanged)."""
    listeners, others = [], []
    for description in descriptions:
        fields = endpoint_fields(description)
        if fields is None:
            others.append(description)
        else:
            listeners.append(shared_listener(fields, backlog))
    return listeners, others


def adopt(reactor, listeners, factory, on_listening):
    """Serve `factory` on each listening socket; on_listening(port) for each,
    as Daphne's listen_success for its own endpoints."""
    for listener in listeners:
        port = reactor.adoptStreamPort(listener.fileno(), listener.family, factory)
        listener.close()  # Twisted listens on its own copy of the descriptor
        on_listening(port)
