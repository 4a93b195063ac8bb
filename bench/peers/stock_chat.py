"""The baseline of the chat fan-out benchmark: the Channels tutorial's chat
pattern on stock Daphne, with this project's settings and Message table, so
only the fan-out differs:

    DJANGO_SETTINGS_MODULE=config.settings python -m daphne bench.peers.stock_chat:application

Every socket joins the room's channel-layer group with its own channel
(`group_add(group, self.channel_name)`); a post is stored with
database_sync_to_async, then `group_send` delivers it to each member's
channel and each consumer's `chat_message` handler sends it. No hub, no
presence, no checks beyond what the tutorial has.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.db import database_sync_to_async  # noqa: E402
from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from realtime.chat import store as chat_store  # noqa: E402


class StockChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room"]
        self.group = f"chat.{self.room_name}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "joined", "room": self.room_name})

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content):
        # The store answers with its change frame; the tutorial's consumer
        # sends the bare message, as it always did.
        change, _ = await database_sync_to_async(chat_store.post)(
            self.room_name, self.scope["user"], content["text"], content.get("client_id", "")
        )
        message = change["message"]
        await self.channel_layer.group_send(self.group, {"type": "chat.message", "message": message})
        await self.send_json(
            {
                "type": "ack",
                "action": "post",
                "id": message["id"],
                "client_id": content.get("client_id", ""),
                "message": message,
            }
        )

    async def chat_message(self, event):
        await self.send_json({"type": "message", "message": event["message"]})


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(
            URLRouter(
                [
                    re_path(r"^ws/chat/(?P<room>[A-Za-z0-9_-]{1,64})/$", StockChatConsumer.as_asgi()),
                ]
            )
        ),
    }
)
