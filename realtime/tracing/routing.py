from django.urls import path

from realtime.tracing.live import TraceLiveConsumer

websocket_urlpatterns = [
    path("ws/debug/requests", TraceLiveConsumer.as_asgi()),  # staff only
]
