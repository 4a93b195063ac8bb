"""One ProtocolTypeRouter: HTTP (pages, admin, static files) goes to Django,
WebSocket goes through the origin check and the session/auth stack to the
socket routes."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django must be set up before anything imports models (the auth middleware).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime.consumer_kit.origin import OriginCheck  # noqa: E402
from realtime.consumer_kit.session_auth import SessionAuthStack  # noqa: E402  (no thread hop without a session cookie)
from realtime.ops.asgi import instrument  # noqa: E402
from realtime.ops.socket_stats import count_routes  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402
from realtime.static_handler import StaticFilesUnderStaticURL  # noqa: E402
from realtime.tracing.middleware import TracingMiddleware  # noqa: E402

count_routes(websocket_urlpatterns)  # the metrics' route labels

# Outermost, so every request and connection is traced, including those
# the Origin check refuses and those no route matches (realtime/tracing/middleware.py).
application = instrument(
    TracingMiddleware(
        ProtocolTypeRouter(
            {
                # Daphne serves the static files on the same port as the sockets.
                "http": StaticFilesUnderStaticURL(django_asgi_app),
                "websocket": OriginCheck(SessionAuthStack(URLRouter(websocket_urlpatterns))),
            }
        )
    )
)
