"""The sample sockets' paths, as the seed samples name them (/wsecho and
/wstime are the Go samples' own)."""

from django.urls import path, re_path

from realtime.samples import consumers

websocket_urlpatterns = [
    path("ws/echo", consumers.EchoConsumer.as_asgi()),
    path("ws/mouse", consumers.MouseConsumer.as_asgi()),
    path("wsecho", consumers.MouseConsumer.as_asgi()),
    path("ws/time", consumers.TimeConsumer.as_asgi()),
    path("wstime", consumers.GoTimeConsumer.as_asgi()),
    path("ws/received", consumers.ReceivedConsumer.as_asgi()),
    path("ws/hello", consumers.HelloConsumer.as_asgi()),
    re_path(r"^ws/person(?:/(?P<codec>xml))?$", consumers.PersonConsumer.as_asgi()),
]
