"""/ws/chat/<room>/: the chat socket.

Client to server, one JSON object per message, dispatched on "action":
  {"action": "post", "text": str, "room"?: str, "client_id"?: str}
  {"action": "edit", "id": int, "text": str}
  {"action": "delete", "id": int}
  {"action": "history", "before": int}               older messages, 50 a page
  {"action": "sync", "after": offset, "epoch"?: str}  the changes after an offset

Server to client:
  {"type": "joined", "room", "user", "messages", "has_more", "offset", "epoch", "now"}
                                      on connect: the last 50, and the stream offset they stand at
  {"type": "message" | "edited" | "deleted", "offset", "epoch", "message": {...}, "at"}
                                      to everyone in the room; offsets 1, 2, 3, ... per room
  {"type": "ack", "action", "id", "offset", "epoch", "client_id"?, "message"}
                                      to the sender, after storing and publishing
  {"type": "history", "before", "messages", "has_more"}
  {"type": "sync", "after", "changes": [change frames], "has_more", "offset", "epoch", "now"}
      or, for another epoch: {"type": "sync", "reset": true, "messages", "offset", "epoch", ...}
  {"type": "resync"}                  changes may have been lost: sync from your offset
  {"type": "presence", "users": [names], "guests": int}
  {"error": {"code", "message"}}      the socket stays open

Everything is stored (committed, with its offset) first, then broadcast, then
acknowledged; a broadcast that fails is still acknowledged, and the room's
sockets resync once the channel layer is back (realtime/chat/recovery.py).
The recovery protocol: docs/CHAT.md.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from realtime.chat import recovery
from realtime.chat import store as chat_store
from realtime.chat.presence import get_presence
from realtime.chat.stream import room_group
from realtime.consumer_kit import codecs
from realtime.consumer_kit.consumer import SocketConsumer
from realtime.consumer_kit.errors import ClientError
from realtime.consumer_kit.hub import get_hub
from realtime.consumer_kit.session_auth import session_is_current
from realtime.ops import counts

logger = logging.getLogger(__name__)

MAX_CLIENT_ID = 64
MAX_EPOCH = 32
# A broadcast that has not reached the channel layer by then counts as
# failed: the sender is acknowledged and the room resyncs later.
PUBLISH_TIMEOUT_SECONDS = 2.0


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
        self.room = await self.database(chat_store.find_room, self.room_name)
        # Until the "joined" frame is out, broadcasts wait here, so a client
        # always gets the history first and then what came after it.
        self.waiting = []
        await self.accept()
        # Join before reading the history: a message stored in between then
        # arrives twice (same id) rather than never.
        await self.join_group(room_group(self.room_name))
        recovery.watch(get_hub())
        state = await self.database(chat_store.joined, self.room)
        await self.send_value(
            {
                "type": "joined",
                "room": self.room_name,
                "user": {"name": self.user.username, "staff": self.user.is_staff} if self.user else None,
                **state,
                "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
                "now": chat_store.iso(timezone.now()),
            }
        )
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
            recovery.delivered(get_hub(), group, data)
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
        frame, created = await database_sync_to_async(chat_store.post)(self.room_name, self.user, text, client_id)
        if created:
            counts.CHAT_CHANGES.inc("post", "socket")
            # Broadcast, then acknowledge: once the sender sees the ack the
            # message is stored *and* on its way to everyone.
            await self.broadcast(frame)
        elif recovery.never_delivered(get_hub(), room_group(self.room_name), frame):
            # A retry of a post whose broadcast this process never saw come
            # through (its first process died between storing and
            # publishing): published now, once; members skip it if they had it.
            await self.broadcast(frame)
        # Any other retry of a post stored already (same client_id) is
        # acknowledged to its sender only: no new offset, no broadcast, no
        # rate-limit use (nothing new is stored or sent to anyone).
        await self.acknowledge("post", frame, client_id)

    async def do_edit(self, request):
        await self.require_user("edit")
        message_id = require_int(request, "id")
        text = self.clean_text(request)
        frame = await self.database(chat_store.edit, await self.stored_room(), self.user, message_id, text)
        counts.CHAT_CHANGES.inc("edit", "socket")
        await self.broadcast(frame)
        await self.acknowledge("edit", frame)

    async def do_delete(self, request):
        await self.require_user("delete")
        message_id = require_int(request, "id")
        frame = await self.database(chat_store.delete, await self.stored_room(), self.user, message_id)
        counts.CHAT_CHANGES.inc("delete", "socket")
        await self.broadcast(frame)
        await self.acknowledge("delete", frame)

    async def do_history(self, request):
        before = require_int(request, "before")
        messages, has_more = await self.database(chat_store.latest, await self.stored_room(), before)
        await self.send_value({"type": "history", "before": before, "messages": messages, "has_more": has_more})

    async def do_sync(self, request):
        after = require_int(request, "after")
        epoch = request.get("epoch")
        if epoch is not None and (not isinstance(epoch, str) or len(epoch) > MAX_EPOCH):
            raise ClientError("invalid_field", f'"epoch" must be a string of at most {MAX_EPOCH} characters')
        if "since" in request:
            # Older pages synced by time; offsets made it unneeded. Still
            # checked, so a malformed one is a clear error, not a traceback.
            parse_since(request["since"])
        now = chat_store.iso(timezone.now())
        answer = await self.database(chat_store.sync, await self.stored_room(), after, epoch)
        await self.send_value({"type": "sync", **answer, "now": now})

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
        if not await self.database(session_is_current, key, self.user):
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
            self.room = await self.database(chat_store.find_room, self.room_name)
        return self.room

    async def database(self, function, *args):
        """function(*args) off the loop, retried once after reconnecting if
        the connection dropped. A refusal (chat_store.ChatRefused) is a
        ClientError: an error frame."""
        return await database_sync_to_async(chat_store.with_reconnect)(function, *args)

    async def acknowledge(self, action, frame, client_id=""):
        message = frame["message"]
        ack = {
            "type": "ack",
            "action": action,
            "id": message["id"],
            "offset": frame["offset"],
            "epoch": frame["epoch"],
            "message": message,
        }
        if client_id:
            ack["client_id"] = client_id
        await self.send_value(ack)

    async def broadcast(self, frame):
        hub = get_hub()
        group = room_group(self.room_name)
        try:
            await asyncio.wait_for(hub.publish(group, frame), PUBLISH_TIMEOUT_SECONDS)
        except Exception as error:
            # Stored (with its offset) and acknowledged all the same; the
            # room's sockets in every process resync once the layer is back.
            # The hub's watch logs the outage once; this is per message.
            if isinstance(error, TimeoutError):
                hub.watch.lost(f"publishing to {group} took over {PUBLISH_TIMEOUT_SECONDS:g} s")
            recovery.broadcast_failed(hub, group)
            logger.debug("broadcast to room %s failed: %r", self.room_name, error)


def parse_since(value):
    """An ISO 8601 time from 1970 on, or ClientError("invalid_field"): never
    an exception of the parser's (a 30 February, hour 25, an offset of
    +99:00), nor a time so early that arithmetic on it overflows (year 1)."""
    from django.utils.dateparse import parse_datetime

    try:
        since = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        since = None
    if since is None or since.year < 1970:
        raise ClientError("invalid_field", '"since" must be an ISO 8601 time from 1970 on')
    return since
