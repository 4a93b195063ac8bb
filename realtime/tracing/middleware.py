"""TracingMiddleware: ASGI middleware that traces every HTTP request and
every WebSocket connection, so no view or consumer has to (config/asgi.py
wraps the whole router in it).

- HTTP: one trace per request, family "http.<METHOD> <route>" (the Django URL
  pattern, so /admin/auth/user/3/change/ and /admin/auth/user/4/change/ share
  a family; any method outside the standard ones is "OTHER", so made-up
  methods cannot make families), title = the path; events: the request line
  (the values of credential-named query keys redacted), the status; 5xx and
  exceptions are errors. Headers and bodies are never recorded (cookies,
  Authorization, CSRF tokens, passwords).
- WebSocket: one event log per connection (family "websocket.Conn", title =
  path and peer): connect, accept or reject (and why, when something said:
  the Origin check and the consumers log their reasons into
  scope["realtime.trace_log"]), close code, messages in and out, duration.
  The counts, the accept and the closes come from SocketConsumer
  (realtime.consumer_kit.consumer)
  (no wrapper around receive/send here: two coroutine frames per message),
  which also records one "websocket.Receive" trace per received message.
"""

from asgiref.sync import markcoroutinefunction
from django.conf import settings
from django.urls import Resolver404, get_resolver

from realtime import tracing
from realtime.scope import header
from realtime.tracing.redaction import QueryString, Subprotocols

TRACE_LOG_KEY = "realtime.trace_log"
# RFC 9110's methods and PATCH; any other is traced as "OTHER".
STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def readable_route(route):
    """A URL pattern as a person reads it: a regular expression's named
    groups become <name> and its anchors and escapes go
    ("^chat/(?P<room>[A-Za-z0-9_-]{1,64})/$" -> "chat/<room>/"); a path()
    route ("<path:object_id>/change/") is already readable."""
    out, i = [], 0
    while i < len(route):
        if route.startswith("(?P<", i):
            name_end = route.index(">", i)
            depth, j = 1, name_end + 1
            while j < len(route) and depth:
                if route[j] == "\\":
                    j += 1
                elif route[j] == "(":
                    depth += 1
                elif route[j] == ")":
                    depth -= 1
                j += 1
            out.append(f"<{route[i + 4 : name_end]}>")
            i = j
        elif route[i] in "^$":
            i += 1
        elif route[i] == "\\" and i + 1 < len(route):
            out.append(route[i + 1])
            i += 2
        else:
            out.append(route[i])
            i += 1
    return "".join(out)


def route_of(path):
    """The URL pattern that serves `path` ("/admin/<path:object_id>/change/",
    "/chat/<room>/"), without running any view."""
    static_url = "/" + settings.STATIC_URL.lstrip("/")
    if path.startswith(static_url):
        return static_url + "<path>"
    try:
        match = get_resolver().resolve(path)
    except Resolver404:
        return "(no route)"
    except Exception:
        return "(unresolvable)"
    return "/" + readable_route(match.route or "")


def client_of(scope):
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "?"


class TracingMiddleware:
    def __init__(self, application):
        self.application = application

    # Not async: it returns the chosen coroutine instead of awaiting it, so
    # no frame of its own stays alive for an open socket's life.
    @markcoroutinefunction
    def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http" and tracing.enabled():
            return self.http(scope, receive, send)
        if kind == "websocket" and tracing.enabled():
            return self.websocket(scope, receive, send)
        return self.application(scope, receive, send)

    async def http(self, scope, receive, send):
        method = scope.get("method", "?")
        path = scope.get("path", "")
        family_method = method if method in STANDARD_METHODS else "OTHER"
        trace = tracing.new(f"http.{family_method} {route_of(path)}", path)
        query = scope.get("query_string", b"").decode("latin1")
        trace.log("%s %s%s from %s", method, path, QueryString(query), client_of(scope))

        async def traced_send(message):
            if message["type"] == "http.response.start":
                status = message.get("status", 0)
                trace.log("status %d", status)
                if status >= 500:
                    trace.set_error()
            await send(message)

        try:
            await self.application(scope, receive, traced_send)
        except BaseException as error:
            trace.errorf("raised %s", type(error).__name__)
            raise
        finally:
            trace.finish()

    async def websocket(self, scope, receive, send):
        log = tracing.new_event_log(tracing.CONNECTION_FAMILY, f"{scope.get('path', '')} {client_of(scope)}")
        scope = dict(scope)
        scope[TRACE_LOG_KEY] = log
        log.printf(
            "connect from %s, Origin %s, subprotocols %s",
            client_of(scope),
            header(scope, b"origin"),
            Subprotocols(scope.get("subprotocols")),
        )
        # No wrapper around receive or send: that would cost two coroutine
        # frames per message. SocketConsumer counts messages and notes the
        # accept, the closes and their codes in the log.
        try:
            await self.application(scope, receive, send)
        except BaseException as error:
            log.errorf("raised %s: %s", type(error).__name__, error)
            raise
        finally:
            if not log.accepted:
                log.errorf("rejected (handshake refused)")
            log.printf("closed after %.3fs: %d messages in, %d out", log.elapsed, log.messages_in, log.messages_out)
            log.finish()
