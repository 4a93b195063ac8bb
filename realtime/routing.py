"""Every WebSocket path of the site, collected from the packages that serve
them (config/asgi.py routes "websocket" here)."""

from django.urls import path, re_path

from realtime.chat import ChatConsumer
from realtime.models import ROOM_NAME_PATTERN
from realtime.samples.routing import websocket_urlpatterns as sample_sockets
from realtime.sockets.consumer import UnknownPathConsumer
from realtime.tracing_views import TraceLiveConsumer

websocket_urlpatterns = [
    *sample_sockets,
    re_path(rf"^ws/chat/(?P<room>{ROOM_NAME_PATTERN})/$", ChatConsumer.as_asgi()),
    path("ws/debug/requests", TraceLiveConsumer.as_asgi()),  # staff only
    # Last: every other path is refused cleanly.
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
