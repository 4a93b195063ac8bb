"""Every WebSocket path of the site, collected from the packages that serve
them (config/asgi.py routes "websocket" here)."""

from django.urls import re_path

from realtime.chat.routing import websocket_urlpatterns as chat_sockets
from realtime.consumer_kit.consumer import UnknownPathConsumer
from realtime.samples.routing import websocket_urlpatterns as sample_sockets
from realtime.tracing.routing import websocket_urlpatterns as tracing_sockets

websocket_urlpatterns = [
    *sample_sockets,
    *chat_sockets,
    *tracing_sockets,
    # Last: every other path is refused cleanly.
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
