"""Open WebSocket connections and their traffic, per route, read when
Prometheus asks instead of counted per message.

What the server already keeps: Daphne's `server.connections` (every open
HTTP and WebSocket protocol) and autobahn's `trafficStats` on each
WebSocket protocol (messages and wire bytes in; out for messages that take
autobahn's path, and realtime.server.protocol adds the two plain-int
increments its fast send path skips). A scrape walks the open protocols
and sums those ints by route; a connection that ends adds its final
figures to per-route totals once (`closed`, from the protocol's onClose),
so the exposed counters never go backwards. Per message this costs the
hot path nothing it did not already do.

Threads: the metrics endpoint answers in its own thread (realtime.ops.
metrics); only the event loop writes what is read here. One lock makes
"fold a closed socket into the totals" and "copy the totals and list the
sockets not folded yet" exclusive, so a socket that closes mid-scrape is
counted exactly once and no counter ever goes backwards (Prometheus would
take that for a restart). The loop takes it once per closed connection;
a scrape holds it only to copy, not while it sums.
"""

import threading
from urllib.parse import unquote

from realtime.ops import counts

LIVE, FOLDED = 1, 2  # a protocol's `stats_phase`: counted live, then in the totals

UNKNOWN_ROUTE = "(unknown)"
ROUTE_CACHE_LIMIT = 10_000  # distinct raw paths remembered; beyond, resolved each time

_server = None
_route_cache = {}
# route -> [messages in, messages out, wire bytes in, wire bytes out] of ended sockets
_closed_totals = {}
_fold_lock = threading.Lock()


_websocket_patterns = ()  # set by count_routes


def watch(server):
    """The Daphne server whose connections are counted (one per process)."""
    global _server
    _server = server


def route_of(raw_path):
    """The route label of a WebSocket path (b"/ws/chat/lobby/" ->
    "/ws/chat/<room>/"): the pattern that serves it, so labels stay few
    whatever rooms or paths clients ask for."""
    route = _route_cache.get(raw_path)
    if route is None:
        route = resolve_route(unquote(raw_path.decode("ascii", "replace")))
        if len(_route_cache) < ROUTE_CACHE_LIMIT:
            _route_cache[raw_path] = route
    return route


def count_routes(websocket_urlpatterns):
    """The WebSocket URL patterns that name the routes counted here, given
    once by config/asgi.py with the application: this module, which every
    consumer's toolkit imports, must not import the consumers' routing."""
    global _websocket_patterns
    _websocket_patterns = tuple(websocket_urlpatterns)
    _route_cache.clear()


def resolve_route(path):
    from django.contrib.admindocs.views import simplify_regex

    path = path.lstrip("/")  # as channels' URLRouter matches
    for pattern in _websocket_patterns:
        text = str(pattern.pattern)
        if pattern.pattern.match(path):
            # The catch-all that refuses unknown paths matches everything.
            return simplify_regex(text) if text else UNKNOWN_ROUTE
    return UNKNOWN_ROUTE


# -- hooks, on the event loop (realtime.server.protocol) -------------------------


def opened(protocol):
    protocol.stats_phase = LIVE
    counts.ACCEPTED.inc(route_of(protocol.path))


def closed(protocol, was_clean):
    """Once per connection, when its TCP connection is gone."""
    if getattr(protocol, "stats_phase", 0) != LIVE:
        return  # never opened (a refused or failed handshake)
    route = route_of(protocol.path)
    stats = protocol.trafficStats
    with _fold_lock:
        add_traffic(_closed_totals, route, stats)
        protocol.stats_phase = FOLDED
    code, initiator = close_of(protocol, was_clean)
    counts.CLOSES.inc(route, close_code_label(code), initiator)


# The codes RFC 6455 and the IANA registry define (1004 is reserved): each
# is its own label value. The client picks any code it likes, and each new
# label value is a new series in Prometheus (60 codes sent, 60 series), so
# the rest are counted by range.
REGISTERED_CLOSE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015}
)


def close_code_label(code):
    """The `code` label of a close: the number for a registered code,
    "3xxx" (libraries, frameworks), "4xxx" (applications) or "other"."""
    if code in REGISTERED_CLOSE_CODES:
        return str(code)
    if 3000 <= code <= 3999:
        return "3xxx"
    if 4000 <= code <= 4999:
        return "4xxx"
    return "other"


def add_traffic(totals, route, stats):
    """Add one socket's autobahn trafficStats to `totals[route]`, a list of
    [messages in, out, bytes in, out]."""
    row = totals.get(route)
    if row is None:
        row = totals[route] = [0, 0, 0, 0]
    row[0] += stats.incomingWebSocketMessages
    row[1] += stats.outgoingWebSocketMessages
    row[2] += stats.incomingOctetsWireLevel
    row[3] += stats.outgoingOctetsWireLevel


def close_of(protocol, was_clean):
    """(close code, which side sent the first close frame). The code is the
    first close frame's: ours if we closed first (even if the client never
    answered), else the client's; 1005 for a close frame without a code,
    1006 when neither side sent one (RFC 6455 7.1.5)."""
    if protocol.closedByMe:
        code = protocol.localCloseCode
        return (1005 if code is None else code), "server"
    if protocol.remoteCloseCode is not None:
        return protocol.remoteCloseCode, "client"
    if was_clean:
        return 1005, "client"
    return 1006, "none"


# -- read at scrape time, in the metrics thread ---------------------------------------


def snapshot():
    """(open sockets per route, {route: [messages in, out, bytes in, out]})."""
    server = _server
    with _fold_lock:
        totals = {route: list(values) for route, values in _closed_totals.items()}
        # HTTP protocols, sockets not open yet and sockets already in the
        # totals are left out.
        live = [p for p in list(server.connections) if getattr(p, "stats_phase", 0) == LIVE] if server else []
    open_sockets = {}
    for protocol in live:
        route = route_of(protocol.path)
        add_traffic(totals, route, protocol.trafficStats)
        if protocol.state in (protocol.STATE_OPEN, protocol.STATE_CLOSING):
            open_sockets[route] = open_sockets.get(route, 0) + 1
    return open_sockets, totals


def route_of_scope(scope):
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
    return route_of(raw_path)


def refused(scope, reason):
    """A handshake refused by the application (origin, unknown_path, auth, other)."""
    counts.REFUSED.inc(route_of_scope(scope), reason)


def throttled(scope):
    counts.THROTTLED.inc(route_of_scope(scope))


def read_paused(protocol):
    counts.READ_PAUSES.inc(route_of(protocol.path))


def slow_client_closed(protocol):
    counts.SLOW_CLIENT_CLOSES.inc(route_of(protocol.path))


def keepalive_dropped(protocol, ping_acknowledged):
    counts.KEEPALIVE_DROPS.inc(route_of(protocol.path), "acknowledged" if ping_acknowledged else "unacknowledged")
