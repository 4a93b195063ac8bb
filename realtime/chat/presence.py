"""Who is in each chat room, across server processes.

Choice: presence travels through the same hub/channel layer as the messages,
so it works unchanged with the in-memory layer (one process) and with Redis
(many processes), and needs no extra store. Each process

- keeps its own sockets per room (username, or None for a guest);
- publishes a snapshot of them ({"users": {name: sockets}, "guests": n}) to
  the room's presence group when they change (coalesced every
  FLUSH_SECONDS) and again every CHAT_PRESENCE_REFRESH_SECONDS;
- keeps the other processes' latest snapshots, each valid for 3 refresh
  periods, so the users of a process that dies vanish within that time
  instead of staying "online" forever;
- pushes the merged view to its sockets in the room when it changes.

A process that starts serving a room says "hello" in its first snapshot and
the others answer with theirs at once, so a newcomer sees everyone at once
instead of after a refresh period.
"""

import asyncio
import logging
import time
import uuid
import weakref

from django.conf import settings

from realtime.consumer_kit import codecs
from realtime.consumer_kit.hub import get_hub
from realtime.ops.outages import REDIS

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.2


def presence_group(room):
    return f"chat-presence.{room}"


class RoomPresence:
    def __init__(self, hub):
        self.hub = hub
        self.process_id = uuid.uuid4().hex
        self.local = {}  # room -> {socket: username or None}
        self.remote = {}  # room -> {process_id: (snapshot, expires_at monotonic)}
        self.shown = {}  # room -> last view pushed to local sockets
        self.to_publish = {}  # room -> hello flag
        self.to_push = set()
        self.task = None

    # -- called by the chat consumer ----------------------------------------

    async def enter(self, room, socket, username):
        members = self.local.setdefault(room, {})
        first = not members
        members[socket] = username
        if first:
            await self.hub.join(presence_group(room), self)
        self.to_publish[room] = self.to_publish.get(room, False) or first
        self.to_push.add(room)
        self._start()
        await socket.send(text_data=self._encode(self.view(room)))

    def leave(self, room, socket):
        members = self.local.get(room)
        if members is None or socket not in members:
            return
        del members[socket]
        self.to_publish.setdefault(room, False)
        self.to_push.add(room)

    # -- views --------------------------------------------------------------

    def snapshot(self, room):
        users, guests = {}, 0
        for username in self.local.get(room, {}).values():
            if username is None:
                guests += 1
            else:
                users[username] = users.get(username, 0) + 1
        return users, guests

    def view(self, room):
        users, guests = self.snapshot(room)
        names = set(users)
        now = time.monotonic()
        for snapshot, expires in self.remote.get(room, {}).values():
            if expires > now:
                names.update(snapshot["users"])
                guests += snapshot["guests"]
        return {"type": "presence", "users": sorted(names), "guests": guests}

    @staticmethod
    def _encode(view):
        return codecs.JSON.marshal(view)[0]

    # -- the hub delivers other processes' snapshots here ----------------------

    async def hub_message(self, group, data, memo):
        if data.get("process") == self.process_id:
            return
        room = data["room"]
        if room not in self.local:
            return
        ttl = float(data.get("ttl", 15.0))
        processes = self.remote.setdefault(room, {})
        if data["users"] or data["guests"]:
            processes[data["process"]] = ({"users": data["users"], "guests": data["guests"]}, time.monotonic() + ttl)
        else:
            processes.pop(data["process"], None)
        if data.get("hello"):
            self.to_publish.setdefault(room, False)
        self.to_push.add(room)

    # -- background loop ------------------------------------------------------

    def _start(self):
        if self.task is None or self.task.done():
            self.task = self.hub.run_in_background(self._run())

    async def _run(self):
        refresh = settings.CHAT_PRESENCE_REFRESH_SECONDS
        next_refresh = time.monotonic() + refresh
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                now = time.monotonic()
                if now >= next_refresh:
                    next_refresh = now + refresh
                    for room in list(self.local):
                        self.to_publish.setdefault(room, False)
                        self._expire(room, now)
                await self._flush(refresh)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("presence update failed")

    def _expire(self, room, now):
        processes = self.remote.get(room, {})
        for process_id, (_, expires) in list(processes.items()):
            if expires <= now:
                del processes[process_id]
                self.to_push.add(room)

    async def _flush(self, refresh):
        publish, self.to_publish = self.to_publish, {}
        for room, hello in publish.items():
            users, guests = self.snapshot(room)
            data = {
                "process": self.process_id,
                "room": room,
                "users": users,
                "guests": guests,
                "hello": hello,
                "ttl": 3 * refresh,
            }
            try:
                await self.hub.publish(presence_group(room), data)
            except Exception as error:  # Redis away: the next refresh tries again
                REDIS.failed(f"publishing who is in {room}", error)
            if not self.local.get(room):
                # Last local socket gone: we said so; stop following the room.
                self.local.pop(room, None)
                self.remote.pop(room, None)
                self.shown.pop(room, None)
                self.to_push.discard(room)
                await self.hub.leave(presence_group(room), self)
        push, self.to_push = self.to_push, set()
        for room in push:
            sockets = list(self.local.get(room, {}))
            view = self.view(room)
            if not sockets or self.shown.get(room) == view:
                continue
            self.shown[room] = view
            text = self._encode(view)
            for socket in sockets:
                try:
                    await socket.send(text_data=text)
                except Exception:
                    logger.debug("presence not sent to a closing socket", exc_info=True)


_trackers = weakref.WeakKeyDictionary()


def get_presence():
    """The presence tracker of this process (of the running event loop)."""
    loop = asyncio.get_running_loop()
    tracker = _trackers.get(loop)
    if tracker is None:
        tracker = _trackers[loop] = RoomPresence(get_hub())
    return tracker
