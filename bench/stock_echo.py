"""The baseline of the echo benchmark: a stock Channels echo consumer in the
tutorial's pattern, served by stock Daphne:

    python -m daphne -b 127.0.0.1 -p 8001 bench.stock_echo:application

Nothing of this project is imported. Django is configured here with the
least it needs (no database, no channel layer: the echo uses neither), so the
figure is Channels' own per-message cost, including the
`aclose_old_connections()` thread hop its dispatch runs for every message.
"""

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["channels"],
    )
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        if text_data is not None:
            await self.send(text_data=text_data)
        else:
            await self.send(bytes_data=bytes_data)


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/echo", EchoConsumer.as_asgi())])}
)
