"""Every WebSocket path of the site, collected from the packages that serve
them (config/asgi.py routes "websocket" here)."""

from django.urls import path, re_path

from realtime.chat.routing import websocket_urlpatterns as chat_sockets
from realtime.samples.routing import websocket_urlpatterns as sample_sockets
from realtime.sockets.consumer import UnknownPathConsumer
from realtime.tracing_views import TraceLiveConsumer

websocket_urlpatterns = [
    *sample_sockets,
    *chat_sockets,
    path("ws/debug/requests", TraceLiveConsumer.as_asgi()),  # staff only
    # Last: every other path is refused cleanly.
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
