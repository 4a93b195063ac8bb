"""The stock Channels app the peer servers run (stock Daphne, uvicorn,
granian), in the tutorial's pattern; nothing of this project is imported:

    python -m daphne -b 127.0.0.1 -p 8001 bench.peers.stock_channels:application

/ws/echo: an AsyncWebsocketConsumer that sends back every message.
/ws/time: a consumer in the group "time" (`groups`, joined with its own
channel), and a ticker, started by the first one, that `group_send`s the
tick at the top of each second; each consumer's `tick` handler sends it.
Django is configured here with the least it needs (no database; the
in-memory channel layer, as `runserver` has), so the figures are Channels'
own per-message cost, including the `aclose_old_connections()` thread hop
its dispatch runs for every message.
"""

import asyncio

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
    )
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from bench.peers.ticks import every_second

ticker = None


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        if text_data is not None:
            await self.send(text_data=text_data)
        else:
            await self.send(bytes_data=bytes_data)


class TimeConsumer(AsyncWebsocketConsumer):
    groups = ["time"]

    async def connect(self):
        global ticker
        await self.accept()
        if ticker is None:
            layer = self.channel_layer
            ticker = asyncio.ensure_future(
                every_second(lambda text: layer.group_send("time", {"type": "tick", "text": text}))
            )

    async def tick(self, event):
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter(
    {
        "websocket": URLRouter(
            [
                path("ws/echo", EchoConsumer.as_asgi()),
                path("ws/time", TimeConsumer.as_asgi()),
            ]
        ),
    }
)
