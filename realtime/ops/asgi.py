"""The operator-facing wrappers around the whole ASGI application
(config/asgi.py calls `instrument` once). Each is added only when its
feature is on, so a default run has none of them on its path."""

from django.conf import settings

from realtime.ops import logs


def instrument(application):
    if settings.SENTRY_DSN:
        from realtime.ops import sentry

        application = sentry.wrap(application)
    # Outermost, so Sentry's own log records carry the request context too.
    return logs.with_log_context(application)
