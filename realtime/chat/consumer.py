"""/ws/chat/<room>/: the chat socket.

Client to server, one JSON object per message, dispatched on "action":
  {"action": "post", "text": str, "room"?: str, "client_id"?: str}
  {"action": "edit", "id": int, "text": str}
  {"action": "delete", "id": int}
  {"action": "history", "before": int}          older messages, 50 a page
  {"action": "sync", "after": int, "since"?: iso} what a reconnecting client missed

Server to client:
  {"type": "joined", "room", "user", "messages", "has_more", "now"}  on connect: the last 50
  {"type": "message" | "edited" | "deleted", "message": {...}, "at"}  to everyone in the room
  {"type": "ack", "action", "id", "client_id"?, "message"}              to the sender, after storing
  {"type": "history", "before", "messages", "has_more"}
  {"type": "sync", "after", "messages", "has_more", "now"}
  {"type": "presence", "users": [names], "guests": int}
  {"error": {"code", "message"}}                                       the socket stays open

Everything is stored (committed) first, then broadcast, then acknowledged.
"""

import logging
from datetime import UTC

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from realtime.chat import store as chat_store
from realtime.chat.presence import get_presence
from realtime.ops import counts
from realtime.sockets import codecs
from realtime.sockets.consumer import SocketConsumer
from realtime.sockets.errors import ClientError
from realtime.sockets.hub import get_hub
from realtime.sockets.session_auth import session_is_current

logger = logging.getLogger(__name__)

MAX_CLIENT_ID = 64


def room_group(room):
    return f"chat.{room}"


def change_frame(kind, message):
    """What every socket of the room gets when a message is stored, edited
    or deleted (by its author here, or by a moderator: realtime.chat.moderation)."""
    return {"type": kind, "message": message, "at": chat_store.iso(timezone.now())}


def require_int(request, key):
    value = request.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ClientError("invalid_field", f'"{key}" must be a non-negative integer')
    return value


class ChatConsumer(SocketConsumer):
    uses_database = True

    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room"]
        user = self.scope.get("user")
        self.user = user if user is not None and user.is_authenticated else None
        # None until someone posts: a room is stored with its first post.
        self.room = await database_sync_to_async(chat_store.find_room)(self.room_name)
        # Until the "joined" frame is out, broadcasts wait here, so a client
        # always gets the history first and then what came after it.
        self.waiting = []
        await self.accept()
        # Join before reading the history: a message stored in between then
        # arrives twice (same id) rather than never.
        await self.join_group(room_group(self.room_name))
        messages, has_more = await database_sync_to_async(chat_store.latest)(self.room)
        await self.send_value({
            "type": "joined",
            "room": self.room_name,
            "user": {"name": self.user.username, "staff": self.user.is_staff} if self.user else None,
            "messages": messages,
            "has_more": has_more,
            "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
            "now": chat_store.iso(timezone.now()),
        })
        waiting, self.waiting = self.waiting, None
        for text in waiting:
            await self.send(text_data=text)
        await get_presence().enter(self.room_name, self, self.user.username if self.user else None)

    async def disconnect(self, code):
        if getattr(self, "room_name", None):
            get_presence().leave(self.room_name, self)

    async def hub_message(self, group, data, memo):
        # Encoded once per process and delivery, not once per socket.
        text = memo.get(ChatConsumer)
        if text is None:
            text = memo[ChatConsumer] = codecs.JSON.marshal(data)[0]
        if self.waiting is not None:
            self.waiting.append(text)
        else:
            await self.send(text_data=text)

    async def receive(self, text_data=None, bytes_data=None):
        request = codecs.JSON.unmarshal(text_data if text_data is not None else bytes_data, None)
        if not isinstance(request, dict):
            raise ClientError("invalid_shape", 'expected a JSON object with an "action"')
        action = request.get("action")
        handler = self.actions.get(action) if isinstance(action, str) else None
        if handler is None:
            known = ", ".join(sorted(self.actions))
            raise ClientError("unknown_action", f"unknown action {action!r}; known: {known}")
        await handler(self, request)

    # -- actions --------------------------------------------------------------

    async def do_post(self, request):
        await self.require_user("post")
        room = request.get("room", self.room_name)
        if room != self.room_name:
            raise ClientError("wrong_room", f"this socket is for room {self.room_name!r}, not {room!r}")
        text = self.clean_text(request)
        client_id = request.get("client_id", "")
        if not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID:
            raise ClientError("invalid_field", f'"client_id" must be a string of at most {MAX_CLIENT_ID} characters')
        message, created = await self.store(chat_store.post, self.room_name, self.user, text, client_id)
        if created:
            counts.CHAT_CHANGES.inc("post", "socket")
        # Broadcast, then acknowledge: once the sender sees the ack the message
        # is stored *and* on its way to everyone. A retry of a post already
        # stored (same client_id) is broadcast again, in case the process
        # died between storing and broadcasting; clients replace by id.
        await self.broadcast("message", message)
        ack = {"type": "ack", "action": "post", "id": message["id"], "message": message}
        if client_id:
            ack["client_id"] = client_id
        await self.send_value(ack)

    async def do_edit(self, request):
        await self.require_user("edit")
        message_id = require_int(request, "id")
        text = self.clean_text(request)
        message = await self.store(chat_store.edit, await self.stored_room(), self.user, message_id, text)
        counts.CHAT_CHANGES.inc("edit", "socket")
        await self.broadcast("edited", message)
        await self.send_value({"type": "ack", "action": "edit", "id": message_id, "message": message})

    async def do_delete(self, request):
        await self.require_user("delete")
        message_id = require_int(request, "id")
        message = await self.store(chat_store.delete, await self.stored_room(), self.user, message_id)
        counts.CHAT_CHANGES.inc("delete", "socket")
        await self.broadcast("deleted", message)
        await self.send_value({"type": "ack", "action": "delete", "id": message_id, "message": message})

    async def do_history(self, request):
        before = require_int(request, "before")
        messages, has_more = await database_sync_to_async(chat_store.latest)(await self.stored_room(), before)
        await self.send_value({"type": "history", "before": before, "messages": messages, "has_more": has_more})

    async def do_sync(self, request):
        after = require_int(request, "after")
        since = request.get("since")
        if since is not None:
            since = parse_datetime(since) if isinstance(since, str) else None
            if since is None:
                raise ClientError("invalid_field", '"since" must be an ISO 8601 time')
            if timezone.is_naive(since):
                since = timezone.make_aware(since, UTC)
        now = chat_store.iso(timezone.now())
        messages, has_more = await database_sync_to_async(chat_store.missed)(await self.stored_room(), after, since)
        await self.send_value({"type": "sync", "after": after, "messages": messages, "has_more": has_more, "now": now})

    actions = {"post": do_post, "edit": do_edit, "delete": do_delete, "history": do_history, "sync": do_sync}

    # -- helpers ----------------------------------------------------------------

    async def require_user(self, action):
        if self.user is None:
            raise ClientError("login_required", f"log in to {action} messages")
        # The socket was opened logged in; the session may have ended since
        # (logged out in another tab, password changed). Checked on every
        # change, so a logged-out user cannot keep posting through an old socket.
        session = self.scope.get("session")
        key = session.session_key if session is not None else None
        if not await database_sync_to_async(session_is_current)(key, self.user):
            self.user = None
            raise ClientError("login_required", f"your session has ended; log in again to {action} messages")

    def clean_text(self, request):
        text = request.get("text")
        if not isinstance(text, str):
            raise ClientError("invalid_field", '"text" must be a string')
        if not text.strip():
            raise ClientError("empty_message", "the message is empty")
        limit = settings.CHAT_MAX_MESSAGE_CHARS
        if len(text) > limit:
            raise ClientError("message_too_long", f"the message has {len(text)} characters; the limit is {limit}")
        if "\x00" in text:
            # PostgreSQL text cannot hold NUL; refuse it everywhere alike.
            raise ClientError("invalid_text", "the message contains a NUL character")
        return text

    async def stored_room(self):
        """This room's row; looked up again while it is not stored yet (a post
        through another socket or process may have stored it since)."""
        if self.room is None:
            self.room = await database_sync_to_async(chat_store.find_room)(self.room_name)
        return self.room

    async def store(self, function, *args):
        # A refusal (chat_store.ChatRefused) is a ClientError: an error frame.
        return await database_sync_to_async(function)(*args)

    async def broadcast(self, kind, message):
        try:
            await get_hub().publish(room_group(self.room_name), change_frame(kind, message))
        except Exception:
            # Stored and acknowledged already; others get it on their next
            # sync or page load.
            logger.exception("broadcast to room %s failed", self.room_name)
