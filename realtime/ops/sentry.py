"""Error reporting to Sentry, when SENTRY_DSN is set (nothing of sentry-sdk
is imported otherwise).

- Views: sentry-sdk's Django integration reports every unhandled exception
  (the 500s) with the request.
- Sockets: Channels consumers are not Django views, so the WebSocket branch
  of the ASGI application is wrapped in sentry-sdk's ASGI middleware, which
  reports an exception that escapes a consumer (connect, disconnect, a
  group handler) with the socket's URL. Errors a consumer catches itself
  (SocketConsumer answers a failing message with an error frame and logs
  the traceback with logger.exception) reach Sentry through the SDK's
  logging integration, which turns ERROR records into events.

No personal data is sent by default (send_default_pii off: no cookies,
user names or client addresses); SENTRY_SEND_DEFAULT_PII=1 changes that.
"""


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
    )


class WebSocketErrorsToSentry:
    """WebSocket connections through sentry-sdk's ASGI middleware; HTTP
    untouched (the Django integration reports those, with the request)."""

    def __init__(self, application):
        from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

        self.application = application
        self.reporting = SentryAsgiMiddleware(application, mechanism_type="channels")

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            return await self.reporting(scope, receive, send)
        return await self.application(scope, receive, send)
