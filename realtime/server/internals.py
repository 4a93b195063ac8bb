"""Every private internal of Daphne, Twisted, autobahn and channels-redis
that this project relies on, in one list, probed when the server starts.

None of these is public API: another release can rename or drop one without
an ImportError, and the symptom would be a wrong close code, an unbounded
buffer or a slow path under load, found at 3 a.m. So `RealtimeServer.run`
calls `check_at_start()` before it serves: if anything here moved, the server
stops with one line naming what moved and the versions found.
REALTIME_ALLOW_MOVED_INTERNALS=True makes that a warning, logged at every
start, for whoever has re-checked the server against those releases.

Each entry says how it is probed:
- "attribute": the class (or module) has it (a method or class attribute);
- "assigned": the class's own source assigns `self.<name>` (an instance
  attribute, which only exists on instances);
- "calls": the method's source contains the given text (behaviour we
  depend on, e.g. a checker that re-arms itself by name);
- "copied": the method's source is the one our copy was made from (its
  SHA-256, first 16 hex digits).
"""

import ast
import functools
import hashlib
import importlib
import inspect
import logging
import re
import sys
from dataclasses import dataclass
from importlib import metadata

logger = logging.getLogger(__name__)

DAPHNE, TWISTED, AUTOBAHN, CHANNELS_REDIS = "daphne", "Twisted", "autobahn", "channels-redis"
LIBRARIES = (DAPHNE, TWISTED, AUTOBAHN, CHANNELS_REDIS)

DAPHNE_SERVER = "daphne.server:Server"
DAPHNE_WS = "daphne.ws_protocol:WebSocketProtocol"
AB_PROTOCOL = "autobahn.websocket.protocol:WebSocketProtocol"
AB_SERVER = "autobahn.websocket.protocol:WebSocketServerProtocol"
AB_DEFLATE = "autobahn.websocket.compress_deflate:PerMessageDeflate"
TX_DESCRIPTOR = "twisted.internet.abstract:FileDescriptor"
TX_REACTOR = "twisted.internet.asyncioreactor:AsyncioSelectorReactor"
REDIS_PUBSUB = "channels_redis.pubsub:RedisPubSubLoopLayer"


@dataclass(frozen=True)
class Internal:
    library: str
    owner: str  # "module:Class" or "module"
    name: str
    use: str  # where we rely on it, and for what
    probe: str = "attribute"  # "attribute", "assigned", "calls" or "copied"
    expected: str = ""  # the text ("calls") or fingerprint ("copied")


INTERNALS = (
    # Daphne: the server and protocol classes we subclass.
    Internal(
        DAPHNE,
        DAPHNE_SERVER,
        "create_application",
        "server.py: copied, with InboundQueue and a direct send",
        "copied",
        "f1e300b4ecf636c8",
    ),
    Internal(
        DAPHNE,
        DAPHNE_SERVER,
        "application_checker",
        "server.py: re-armed by name, moved to housekeeping",
        "calls",
        "reactor.callLater(1, self.application_checker)",
    ),
    Internal(
        DAPHNE,
        DAPHNE_SERVER,
        "timeout_checker",
        "server.py: re-armed by name, moved to housekeeping",
        "calls",
        "reactor.callLater(2, self.timeout_checker)",
    ),
    Internal(DAPHNE, DAPHNE_SERVER, "connections", "server.py, protocol.py: the open connections", "assigned"),
    Internal(DAPHNE, DAPHNE_SERVER, "ws_factory", "server.py: our protocol class installed on it", "assigned"),
    Internal(DAPHNE, DAPHNE_SERVER, "listen_success", "server.py: the listening ports, stopped on SIGTERM"),
    Internal(DAPHNE, DAPHNE_WS, "applicationCreateWorked", "protocol.py: the inbound queue's low water mark"),
    Internal(DAPHNE, DAPHNE_WS, "application_queue", "protocol.py: where received messages go", "assigned"),
    Internal(DAPHNE, DAPHNE_WS, "application_deferred", "protocol.py: dropped after the handshake", "assigned"),
    Internal(DAPHNE, DAPHNE_WS, "last_ping", "protocol.py: the keepalive counts from a message", "assigned"),
    Internal(DAPHNE, DAPHNE_WS, "muted", "protocol.py: nothing is queued for a muted socket"),
    Internal(DAPHNE, DAPHNE_WS, "server", "protocol.py: set by onConnect; a refused handshake has none", "assigned"),
    Internal(
        DAPHNE,
        DAPHNE_SERVER,
        "run",
        "server.py: its HTTPFactory becomes RealtimeHTTPFactory",
        "calls",
        "self.http_factory = HTTPFactory(self)",
    ),
    Internal(
        DAPHNE,
        "daphne.http_protocol:WebRequest",
        "process",
        "http_requests.py: forwarding headers removed first; the upgrade passes on the headers left",
        "calls",
        "for h in self.requestHeaders.getAllRawHeaders()",
    ),
    # autobahn: the frame parser, the handshake, the closing handshake.
    Internal(AUTOBAHN, "autobahn.websocket.protocol", "pformat", "lazy_debug.py: made lazy (install)"),
    Internal(AUTOBAHN, AB_PROTOCOL, "_dataReceived", "simple_frames.py: the input fast path goes first"),
    Internal(AUTOBAHN, AB_PROTOCOL, "_connectionMade", "protocol.py: the send queue without an empty deque"),
    Internal(AUTOBAHN, AB_PROTOCOL, "_sendAutoPing", "keepalive.py: one ping outstanding"),
    Internal(AUTOBAHN, AB_PROTOCOL, "_fail_connection", "strict.py: held until the replies are out"),
    Internal(AUTOBAHN, AB_PROTOCOL, "_protocol_violation", "strict.py: parsing stops while held"),
    Internal(AUTOBAHN, AB_PROTOCOL, "_invalid_payload", "strict.py: parsing stops while held"),
    Internal(AUTOBAHN, AB_PROTOCOL, "failedByMe", "strict.py, simple_frames.py: nothing delivered", "assigned"),
    Internal(AUTOBAHN, AB_PROTOCOL, "sendCloseFrame", "protocol.py, server.py: close codes sendClose refuses"),
    Internal(AUTOBAHN, AB_PROTOCOL, "data", "simple_frames.py: nothing of autobahn's buffered", "assigned"),
    Internal(AUTOBAHN, AB_PROTOCOL, "current_frame", "simple_frames.py: no frame open", "assigned"),
    Internal(AUTOBAHN, AB_PROTOCOL, "inside_message", "simple_frames.py: no fragmented message", "assigned"),
    Internal(AUTOBAHN, AB_PROTOCOL, "send_state", "protocol.py: no write in progress", "assigned"),
    Internal(AUTOBAHN, AB_PROTOCOL, "send_queue", "protocol.py: replaced by SendQueue", "assigned"),
    Internal(AUTOBAHN, AB_PROTOCOL, "trafficStats", "simple_frames.py, keepalive.py: byte counts", "assigned"),
    Internal(AUTOBAHN, AB_PROTOCOL, "_perMessageCompress", "protocol.py: our compressor class", "assigned"),
    Internal(AUTOBAHN, AB_PROTOCOL, "autoPingTimeoutCall", "keepalive.py: the ping outstanding", "assigned"),
    Internal(AUTOBAHN, AB_PROTOCOL, "autoPingPending", "keepalive.py: the payload a pong must echo", "assigned"),
    Internal(AUTOBAHN, AB_PROTOCOL, "autoPingPendingSent", "keepalive.py: set with each ping", "assigned"),
    Internal(AUTOBAHN, AB_PROTOCOL, "autoPingPendingSeq", "keepalive.py: the ping's sequence number", "assigned"),
    Internal(AUTOBAHN, AB_PROTOCOL, "autoPingPendingCall", "keepalive.py: autobahn's own ping schedule", "assigned"),
    Internal(
        AUTOBAHN,
        "autobahn.twisted.websocket:WebSocketAdapterProtocol",
        "_onPong",
        "keepalive.py: a fast-path pong still reaches onPong",
    ),
    Internal(
        AUTOBAHN,
        AB_PROTOCOL,
        "processControlFrame",
        "keepalive.py: pong_received does what this does with a pong",
        "calls",
        "if payload == self.autoPingPending:",
    ),
    Internal(AUTOBAHN, AB_SERVER, "_parseExtensionsHeader", "protocol.py: odd deflate offers declined, not failed"),
    Internal(AUTOBAHN, AB_SERVER, "http_request_data", "protocol.py: dropped after the handshake", "assigned"),
    Internal(AUTOBAHN, AB_SERVER, "CONFIG_ATTRS", "server.py: options as class attributes"),
    Internal(
        AUTOBAHN,
        "autobahn.websocket.protocol:WebSocketServerFactory",
        "_batched_timer",
        "keepalive.py: the ping timeout re-armed",
        "assigned",
    ),
    Internal(AUTOBAHN, AB_DEFLATE, "_compressor", "compression.py: no zlib object kept idle", "assigned"),
    Internal(AUTOBAHN, AB_DEFLATE, "_decompressor", "compression.py: no zlib object kept idle", "assigned"),
    Internal(AUTOBAHN, AB_DEFLATE, "_is_server", "compression.py: which side's parameters apply", "assigned"),
    # Twisted: the TCP write buffer and the asyncio reactor's registrations.
    Internal(TWISTED, TX_DESCRIPTOR, "dataBuffer", "send_buffer.py, protocol.py: unsent bytes"),
    Internal(TWISTED, TX_DESCRIPTOR, "offset", "send_buffer.py, protocol.py: unsent bytes"),
    Internal(TWISTED, TX_DESCRIPTOR, "_tempDataLen", "send_buffer.py, protocol.py: unsent bytes", "assigned"),
    Internal(TWISTED, TX_REACTOR, "_readOrWrite", "direct_dispatch.py: reads without the log wrapper"),
    Internal(TWISTED, TX_REACTOR, "_unregisterFDInAsyncio", "direct_dispatch.py: as Twisted's addReader"),
    Internal(TWISTED, TX_REACTOR, "_continuousPolling", "direct_dispatch.py: as Twisted's addReader", "assigned"),
    Internal(TWISTED, TX_REACTOR, "_readers", "direct_dispatch.py: as Twisted's addReader", "assigned"),
    Internal(TWISTED, TX_REACTOR, "_writers", "direct_dispatch.py: as Twisted's addWriter", "assigned"),
    Internal(TWISTED, TX_REACTOR, "_asyncioEventloop", "direct_dispatch.py: the loop to register on", "assigned"),
    Internal(
        TWISTED, "twisted.web.http:HTTPChannel", "requests", "protocol.py: the upgrade's cycle broken", "assigned"
    ),
    Internal(
        TWISTED,
        "twisted.web.http:_GenericHTTPChannelProtocol",
        "_channel",
        "http_requests.py: the channel's transport, cut when a header is late",
        "assigned",
    ),
    Internal(TWISTED, "twisted.web.http:HTTPChannel", "persistent", "http_requests.py: a kept-alive connection"),
    # channels-redis: where a group's name lands among shards.
    Internal(CHANNELS_REDIS, REDIS_PUBSUB, "_shards", "hub.py: a group name per shard", "assigned"),
    Internal(CHANNELS_REDIS, REDIS_PUBSUB, "_get_shard", "hub.py: a group name per shard"),
    Internal(CHANNELS_REDIS, REDIS_PUBSUB, "_get_group_channel_name", "hub.py: a group name per shard"),
)


def load(owner):
    """The module or class `owner` names: the library's own class, even where
    a subclass has been put in its place (Daphne's test server gets ours as
    daphne.server.Server)."""
    module_name, _, qualname = owner.partition(":")
    target = importlib.import_module(module_name)
    for part in qualname.split(".") if qualname else ():
        target = getattr(target, part)
    if isinstance(target, type) and (target.__module__, target.__qualname__) != (module_name, qualname):
        for base in target.__mro__:
            if (base.__module__, base.__qualname__) == (module_name, qualname):
                return base
    return target


@functools.cache
def class_sources(module_name):
    """{qualname: source} of every class in a module, from one parse of it
    (inspect.getsource parses the whole module again for each class)."""
    source = inspect.getsource(sys.modules[module_name])
    lines = source.splitlines(keepends=True)
    found = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                name = prefix + child.name
                found[name] = "".join(lines[child.lineno - 1 : child.end_lineno])
                visit(child, name + ".")

    visit(ast.parse(source), "")
    return found


def source_of(target):
    if isinstance(target, type):
        return class_sources(target.__module__).get(target.__qualname__) or inspect.getsource(target)
    return inspect.getsource(target)


def fingerprint(function):
    return hashlib.sha256(source_of(function).encode()).hexdigest()[:16]


def problem(internal):
    """What moved about `internal`, or None when it is as expected."""
    where = f"{internal.owner.replace(':', '.')}.{internal.name}"
    try:
        owner = load(internal.owner)
    except (ImportError, AttributeError):
        return f"{internal.owner.replace(':', '.')} is gone"
    if internal.probe == "assigned":
        # `self.name = ...` or annotated, `self.name: type = ...`
        if not re.search(rf"self\.{re.escape(internal.name)}\s*(:[^=\n]*)?=", source_of(owner)):
            return f"{where} is no longer assigned"
        return None
    member = getattr(owner, internal.name, None)
    if member is None:
        return f"{where} is gone"
    if internal.probe == "calls" and internal.expected not in source_of(member):
        return f"{where} no longer does {internal.expected!r}"
    if internal.probe == "copied" and fingerprint(member) != internal.expected:
        return f"{where} changed since it was copied (fingerprint {fingerprint(member)})"
    return None


def moved(internals=INTERNALS):
    return [found for found in map(problem, internals) if found]


def installed_versions():
    versions = []
    for library in LIBRARIES:
        try:
            versions.append(f"{library} {metadata.version(library)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{library} not installed")
    return ", ".join(versions)


# Importing daphne.server installs Twisted's reactor, which already calls
# some of these: `python -m realtime.server` probes the rest before that
# import (cli.py), and the server the daphne.server ones when it is made.
REACTOR_INSTALLING = "daphne.server:"
_probed: set[Internal] = set()


def check_at_start(allow_moved, before_reactor=False):
    """Stop (SystemExit, one line) if an internal not probed yet moved; with
    `allow_moved`, log that line as a warning and go on. `before_reactor`:
    only what can be probed without importing daphne.server."""
    due = [
        internal
        for internal in INTERNALS
        if internal not in _probed and not (before_reactor and internal.owner.startswith(REACTOR_INSTALLING))
    ]
    _probed.update(due)
    found = moved(due)
    if not found:
        return
    line = (
        f"realtime.server relies on internals that moved: {'; '.join(found)} "
        f"(found {installed_versions()}; see realtime/server/internals.py)"
    )
    if not allow_moved:
        raise SystemExit(f"error: {line}")
    logger.warning("%s; starting anyway: REALTIME_ALLOW_MOVED_INTERNALS is on", line)
