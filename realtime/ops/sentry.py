"""Error reporting to Sentry, when SENTRY_DSN is set (nothing of sentry-sdk
is imported otherwise).

- Views: sentry-sdk's Django integration reports every unhandled exception
  (the 500s) with the request.
- Sockets: Channels consumers are not Django views, so the whole ASGI
  application is wrapped in sentry-sdk's ASGI middleware (`wrap`), which
  reports an exception that escapes a consumer (connect, disconnect, a
  group handler) with the socket's URL. (Under it, the Django integration
  leaves HTTP requests to the same middleware instead of wrapping them a
  second time.) Errors a consumer catches itself (SocketConsumer answers a
  failing message with an error frame and logs the traceback with
  logger.exception) reach Sentry through the SDK's logging integration,
  which turns ERROR records into events.
- Daphne then logs the escaped exception again ("Exception inside
  application", logger daphne.server) outside the connection's context,
  where the SDK cannot tell it was reported already: `drop_duplicates`
  drops that copy, so one error is one event.

No personal data is sent by default; SENTRY_SEND_DEFAULT_PII=1 changes
that. With it off, besides what the SDK leaves out itself (cookies, user
names, client addresses):
- no stack locals (include_local_variables): a consumer's frames hold the
  message a client sent, whole (a chat post, a password);
- no request bodies, and of the request only the URL without its query
  string and the headers in SAFE_HEADERS (`scrub_request`): a socket's query
  string (`?token=...&email=...`) and Sec-WebSocket-Protocol (`bearer.<token>`)
  carry credentials as often as cookies do;
- no breadcrumbs from log lines, which may quote what a client sent.
"""

import logging
from urllib.parse import urlsplit, urlunsplit

DAPHNE_REPORT = "Exception inside application"
# Request headers that say nothing about who the client is.
SAFE_HEADERS = frozenset(
    {
        "host",
        "user-agent",
        "origin",
        "accept",
        "accept-encoding",
        "accept-language",
        "content-type",
        "content-length",
        "connection",
        "upgrade",
        "sec-websocket-version",
        "sec-websocket-extensions",
    }
)


def init(dsn, environment="", release="", traces_sample_rate=0.0, send_default_pii=False):
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    breadcrumb_level = logging.INFO if send_default_pii else None
    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration(), LoggingIntegration(level=breadcrumb_level, event_level=logging.ERROR)],
        environment=environment or None,
        release=release or None,
        # Performance tracing in Sentry is off unless asked for: the project's
        # own tracing (and OpenTelemetry) already time requests and sockets.
        traces_sample_rate=traces_sample_rate,
        send_default_pii=send_default_pii,
        include_local_variables=send_default_pii,
        max_request_body_size="medium" if send_default_pii else "never",
        before_send=drop_duplicates if send_default_pii else without_personal_data,
    )


def drop_duplicates(event, hint):
    if event.get("logger") == "daphne.server":
        message = (event.get("logentry") or {}).get("message") or ""
        if message.startswith(DAPHNE_REPORT):
            return None  # the ASGI middleware reported it, with the request
    return event


def without_personal_data(event, hint):
    event = drop_duplicates(event, hint)
    if event is not None:
        scrub_request(event)
    return event


def scrub_request(event):
    """The event's request reduced to what names no one: its URL without
    the query string and the SAFE_HEADERS."""
    request = event.get("request")
    if not isinstance(request, dict):
        return
    for key in ("query_string", "data", "cookies", "env"):
        request.pop(key, None)
    url = request.get("url")
    if isinstance(url, str):
        parts = urlsplit(url)
        request["url"] = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    headers = request.get("headers")
    if isinstance(headers, dict):
        request["headers"] = {name: value for name, value in headers.items() if name.lower() in SAFE_HEADERS}


def wrap(application):
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

    return SentryAsgiMiddleware(application, mechanism_type="asgi")
