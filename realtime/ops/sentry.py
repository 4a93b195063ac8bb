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

No personal data is sent by default (send_default_pii off: no cookies,
user names or client addresses); SENTRY_SEND_DEFAULT_PII=1 changes that.
"""

DAPHNE_REPORT = "Exception inside application"


def init(dsn, environment="", release="", traces_sample_rate=0.0, send_default_pii=False):
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration()],
        environment=environment or None,
        release=release or None,
        # Performance tracing in Sentry is off unless asked for: the project's
        # own tracing (and OpenTelemetry) already time requests and sockets.
        traces_sample_rate=traces_sample_rate,
        send_default_pii=send_default_pii,
        before_send=drop_duplicates,
    )


def drop_duplicates(event, hint):
    if event.get("logger") == "daphne.server":
        message = (event.get("logentry") or {}).get("message") or ""
        if message.startswith(DAPHNE_REPORT):
            return None  # the ASGI middleware reported it, with the request
    return event


def wrap(application):
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

    return SentryAsgiMiddleware(application, mechanism_type="asgi")
