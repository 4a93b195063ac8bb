"""The tutorial's async ChatConsumer (part 3), and one more consumer that
pickles its scope, as code that copies or stores a scope may."""

import json
import pickle

from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"

        # Join room group
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)

        await self.accept()

    async def disconnect(self, close_code):
        # Leave room group
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    # Receive message from WebSocket
    async def receive(self, text_data):
        text_data_json = json.loads(text_data)
        message = text_data_json["message"]

        # Send message to room group
        await self.channel_layer.group_send(self.room_group_name, {"type": "chat.message", "message": message})

    # Receive message from room group
    async def chat_message(self, event):
        message = event["message"]

        # Send message to WebSocket
        await self.send(text_data=json.dumps({"message": message}))


class ScopeConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()
        try:
            copy = pickle.loads(pickle.dumps(self.scope))
        except Exception as error:  # what a user of the scope would meet
            await self.send(text_data=json.dumps({"pickled": False, "error": repr(error)}))
            return
        await self.send(
            text_data=json.dumps({"pickled": True, "keys": sorted(copy), "extensions": copy.get("extensions")})
        )
