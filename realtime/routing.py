from django.urls import path, re_path

from realtime import consumers
from realtime.chat import ChatConsumer
from realtime.models import ROOM_NAME_PATTERN
from realtime.tracing_views import TraceLiveConsumer

websocket_urlpatterns = [
    path("ws/echo", consumers.EchoConsumer.as_asgi()),
    path("ws/mouse", consumers.MouseConsumer.as_asgi()),
    path("wsecho", consumers.MouseConsumer.as_asgi()),
    path("ws/time", consumers.TimeConsumer.as_asgi()),
    path("wstime", consumers.GoTimeConsumer.as_asgi()),
    path("ws/received", consumers.ReceivedConsumer.as_asgi()),
    path("ws/hello", consumers.HelloConsumer.as_asgi()),
    re_path(r"^ws/person(?:/(?P<codec>xml))?$", consumers.PersonConsumer.as_asgi()),
    re_path(rf"^ws/chat/(?P<room>{ROOM_NAME_PATTERN})/$", ChatConsumer.as_asgi()),
    path("ws/debug/requests", TraceLiveConsumer.as_asgi()),  # staff only (issue 3)
    # Last: every other path is refused cleanly.
    re_path(r"", consumers.UnknownPathConsumer.as_asgi()),
]
