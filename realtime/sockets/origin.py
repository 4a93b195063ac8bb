"""The Origin check of WebSocket handshakes: Channels' OriginValidator with
two differences (a missing Origin is allowed; a refusal is traced). Named
apart from Channels' AllowedHostsOriginValidator, which behaves differently."""

from urllib.parse import urlparse

from asgiref.sync import markcoroutinefunction
from channels.security.websocket import OriginValidator
from django.conf import settings


class OriginCheck(OriginValidator):
    """Channels' Origin check, except that a handshake with no Origin header at
    all is let through.

    Why: the check exists to stop a hostile web page from opening a socket with
    the visitor's cookies (cross-site WebSocket hijacking). Browsers always send
    Origin on a WebSocket handshake, so a foreign page is still refused.
    Programs that send none (wscat, websocat, the `websockets` library,
    Autobahn) carry no browser cookies, and the samples promise that any client
    can use the sockets.
    """

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)

    @markcoroutinefunction
    def __call__(self, scope, receive, send):
        """An allowed socket gets the application's own coroutine; anything
        else goes through Channels' OriginValidator, which refuses it.

        Why not simply `await super().__call__()`: that keeps two more
        coroutine frames (this one and Channels') alive for every open socket
        (~0.5 KiB of an idle one) only to await the application."""
        if scope["type"] == "websocket":
            origin = None  # the last Origin header, as Channels reads it
            for name, value in scope.get("headers", ()):
                if name == b"origin":
                    origin = value.decode("latin1")
            if self.valid_origin(None if origin is None else urlparse(origin)):
                return self.application(scope, receive, send)
            # Say why in the connection's trace (made by the tracing
            # middleware) before Channels refuses the handshake.
            trace_log = scope.get("realtime.trace_log")
            if trace_log is not None:
                trace_log.errorf("rejected: Origin %s is not an allowed host", origin)
        return super().__call__(scope, receive, send)


def allowed_origins_only(application):
    """Wrap `application` so that an Origin must name one of ALLOWED_HOSTS (or
    be absent, see OriginCheck); in DEBUG with no ALLOWED_HOSTS, localhost."""
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return OriginCheck(application, allowed_hosts)
