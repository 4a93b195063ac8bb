"""Origin checking for WebSocket handshakes.

A browser sends the Origin of the page that opens a socket, and sends the
site's cookies with the handshake whatever that page is. So the check is
what stops another site from opening a socket logged in as its visitor
(cross-site WebSocket hijacking). It compares the whole origin (scheme,
host and port), because a page on another port of the same host (or the
plain-http twin of an https site) is another site to the browser and may be
someone else's.

Allowed: the site's own origin (the scheme and Host header of the handshake
itself, the Host being one of ALLOWED_HOSTS), and the origins listed in
REALTIME_ALLOWED_ORIGINS and CSRF_TRUSTED_ORIGINS ("https://*.example.com"
allows the subdomains, as Django's CSRF check does). A handshake with no
Origin header at all is let through: browsers always send one, and programs
that send none (wscat, websocat, the `websockets` library, Autobahn) carry
no browser's cookies; the samples promise that any client can use the
sockets.
"""

from urllib.parse import urlsplit

from asgiref.sync import markcoroutinefunction
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from realtime.ops import socket_stats
from realtime.scope import header

DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origin(text):
    """(scheme, host, port) of "scheme://host[:port]", ports made explicit,
    or None when `text` is not such an origin ("null", a path, junk)."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def allowed_hosts():
    hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]  # as Django's HttpRequest.get_host
    return hosts


def is_secure(scope):
    """Whether the page's scheme was https: wss:// to us, or, behind a proxy
    that terminates TLS, the header SECURE_PROXY_SSL_HEADER names (as
    Django's request.is_secure() decides it for the pages)."""
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, secure_value = proxy_header
        value = header(scope, name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin1"))
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") in ("wss", "https")


def own_origin(scope):
    """The origin of this site as the handshake reached it, or None when its
    Host is missing or not one of ALLOWED_HOSTS."""
    host = header(scope, b"host")
    if not host:
        return None
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_hosts()):
        return None
    return parse_origin(f"{'https' if is_secure(scope) else 'http'}://{host}")


def configured_origins():
    """(scheme, host pattern, port) of each configured origin; a host pattern
    "*.example.com" matches example.com and its subdomains."""
    patterns = []
    for text in [*settings.REALTIME_ALLOWED_ORIGINS, *settings.CSRF_TRUSTED_ORIGINS]:
        wildcard = "://*." in text
        parsed = parse_origin(text.replace("://*.", "://", 1) if wildcard else text)
        if parsed is not None:
            scheme, host, port = parsed
            patterns.append((scheme, ("." + host) if wildcard else host, port))
    return patterns


def origin_allowed(scope, origin_text):
    origin = parse_origin(origin_text)
    if origin is None:
        return False
    if origin == own_origin(scope):
        return True
    scheme, host, port = origin
    for allowed_scheme, pattern, allowed_port in configured_origins():
        if (scheme, port) != (allowed_scheme, allowed_port):
            continue
        if host == pattern or (pattern.startswith(".") and (host.endswith(pattern) or host == pattern[1:])):
            return True
    return False


class OriginCheck:
    """ASGI middleware for the WebSocket routes: refuses (HTTP 403) a
    handshake whose Origin is not allowed (see the module docstring)."""

    def __init__(self, application):
        self.application = application

    @markcoroutinefunction
    def __call__(self, scope, receive, send):
        """Returns the application's own coroutine rather than awaiting it:
        an awaiting frame of this middleware would stay alive for every open
        socket's life (~0.5 KiB of an idle one) only to pass it through."""
        if scope["type"] == "websocket":
            origin = header(scope, b"origin")
            if origin is not None and not origin_allowed(scope, origin):
                # Say why in the connection's trace (realtime/tracing/middleware.py).
                trace_log = scope.get("realtime.trace_log")
                if trace_log is not None:
                    trace_log.errorf("rejected: Origin %s is not an allowed origin", origin)
                socket_stats.refused(scope, "origin")
                return WebsocketDenier()(scope, receive, send)
        return self.application(scope, receive, send)
