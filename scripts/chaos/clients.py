"""A logged-in member that behaves as static/realtime/chat.js does, and
remembers what it saw.

Like the page: it reconnects with socket.js's backoff (0.25 s doubling to
4 s, equal jitter), through what stands for nginx in docker compose
(least_conn, proxy_next_upstream): to the server with the fewest members,
and not to the one that just refused;
applies changes strictly in offset order, skipping any at or below the
offset it holds; holds one that arrives ahead of a hole for
HOLE_WAIT_SECONDS and then syncs from its offset (paged); syncs after each
reconnect and when told "resync"; re-sends an unacknowledged post after a
reconnect with the same client_id. Unlike a person, it posts every 100-300
ms, and sends a post answered by an error frame again (same client_id)
until RETRY_FOR_SECONDS have passed: only then is the post "failed".

What it keeps: every post id in the order its changes were applied (posts
only), when each id was first shown (from a change or a `joined` page), the
acknowledged and failed client_ids.
"""

import asyncio
import json
import time

import websockets

HOLE_WAIT_SECONDS = 0.5
RETRY_FOR_SECONDS = 20.0
FIRST_DELAY, MAX_DELAY = 0.25, 4.0


class PageClient:
    def __init__(self, name, balancer, session, room, rng):
        """`balancer()`: the servers' ports, the one to try first first."""
        self.name, self.balancer, self.session, self.room, self.rng = name, balancer, session, room, rng
        self.port = None  # of the server it is connected (or connecting) to
        self.ws = None
        self.epoch, self.offset, self.held = None, 0, {}
        self.syncing = self.sync_again = False
        self.hole_timer = None
        self.joined_once = False
        self.applied = []  # post ids, in the order their changes were applied
        self.first_seen = {}  # message id -> time.time() it was first shown
        self.pending = None  # {"client_id", "text", "first_sent", "retry_at"}
        self.acked = {}  # client_id -> (message id, time.time() of the ack)
        self.failed = set()
        self.errors = 0
        self.posts = 0
        self.reconnects = 0
        self.posting = False  # set once every member has joined
        self.running = True

    @property
    def connected(self):
        return self.ws is not None

    # -- the connection ------------------------------------------------------------------

    async def run(self):
        attempt = 0
        refused = None
        while self.running:
            port = self.port = next(port for port in self.balancer() if port != refused)
            url = f"ws://127.0.0.1:{port}/ws/chat/{self.room}/"
            try:
                connecting = websockets.connect(
                    url,
                    additional_headers={"Cookie": f"sessionid={self.session}"},
                    open_timeout=5,
                    ping_interval=None,
                    close_timeout=1,
                )
                try:
                    ws = await connecting
                except (OSError, TimeoutError, websockets.exceptions.InvalidHandshake):
                    refused = port
                    raise
                refused = None
                async with ws:
                    self.ws, attempt = ws, 0
                    poster = asyncio.create_task(self.post_loop(ws))
                    try:
                        async for text in ws:
                            self.handle(json.loads(text))
                    finally:
                        poster.cancel()
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
                pass
            finally:
                self.ws = self.port = None
                self.syncing = False
            if not self.running:
                return
            self.reconnects += 1
            ceiling = min(MAX_DELAY, FIRST_DELAY * 2**attempt)
            attempt += 1
            await asyncio.sleep(ceiling / 2 + self.rng.random() * ceiling / 2)

    def abort(self):
        """Cut the TCP connection without a close handshake (a network fault)."""
        if self.ws is not None and self.ws.transport is not None:
            self.ws.transport.abort()

    def send(self, request):
        ws = self.ws
        if ws is None:
            return False

        async def sending():
            try:
                await ws.send(json.dumps(request))
            except websockets.exceptions.WebSocketException:
                pass

        asyncio.ensure_future(sending())
        return True

    async def post_loop(self, ws):
        while True:
            await asyncio.sleep(self.rng.uniform(0.1, 0.3))
            now = time.time()
            if self.pending is None:
                if not self.posting:
                    continue
                self.posts += 1
                client_id = f"{self.name}-{self.posts}"
                self.pending = {
                    "client_id": client_id,
                    "text": f"{self.name} says {self.posts}",
                    "first_sent": now,
                    "retry_at": None,
                }
                self.send_post()
            elif self.pending["retry_at"] is not None and now >= self.pending["retry_at"]:
                if now - self.pending["first_sent"] > RETRY_FOR_SECONDS:
                    self.failed.add(self.pending["client_id"])
                    self.pending = None
                else:
                    self.pending["retry_at"] = None
                    self.send_post()

    def send_post(self):
        self.send(
            {"action": "post", "room": self.room, "text": self.pending["text"], "client_id": self.pending["client_id"]}
        )

    # -- frames, as chat.js handles them -----------------------------------------------------

    def handle(self, frame):
        if "error" in frame:
            self.errors += 1
            if self.pending is not None:
                self.pending["retry_at"] = time.time() + 0.5
            if self.syncing:
                self.syncing = False
                self.watch_hole(force=True)
            return
        kind = frame.get("type")
        if kind == "joined":
            self.joined(frame)
        elif kind in ("message", "edited", "deleted"):
            self.receive(frame)
        elif kind == "ack":
            self.receive(
                {
                    "type": "message" if frame["action"] == "post" else frame["action"],
                    "offset": frame["offset"],
                    "epoch": frame["epoch"],
                    "message": frame["message"],
                }
            )
            client_id = frame.get("client_id")
            if client_id:
                self.acked.setdefault(client_id, (frame["id"], time.time()))
                if self.pending is not None and client_id == self.pending["client_id"]:
                    self.pending = None
        elif kind == "resync":
            self.request_sync()
        elif kind == "sync":
            self.synced(frame)

    def joined(self, frame):
        self.show(frame["messages"])
        if not self.joined_once or (self.epoch and frame["epoch"] and frame["epoch"] != self.epoch):
            self.joined_once = True
            self.epoch, self.offset, self.held = frame["epoch"], frame["offset"], {}
        else:
            if not self.epoch:
                self.epoch = frame["epoch"]
            if frame["offset"] > self.offset:
                self.request_sync()
        if self.pending is not None:
            self.send_post()

    def show(self, messages):
        now = time.time()
        for message in messages:
            self.first_seen.setdefault(message["id"], now)

    def receive(self, change):
        if self.epoch and change.get("epoch") and change["epoch"] != self.epoch:
            return self.request_sync()
        if not self.epoch and change.get("epoch"):
            self.epoch = change["epoch"]
        if change["offset"] <= self.offset:
            return None
        if change["offset"] > self.offset + 1:
            self.held[change["offset"]] = change
            return self.watch_hole()
        self.apply(change)
        self.drain_held()
        return None

    def apply(self, change):
        self.offset = change["offset"]
        if change["type"] == "message":
            self.applied.append(change["message"]["id"])
        self.show([change["message"]])

    def drain_held(self):
        while self.offset + 1 in self.held:
            self.apply(self.held.pop(self.offset + 1))
        for offset in [at for at in self.held if at <= self.offset]:
            del self.held[offset]
        if self.held:
            self.watch_hole()
        elif self.hole_timer is not None:
            self.hole_timer.cancel()
            self.hole_timer = None

    def watch_hole(self, force=False):
        if self.hole_timer is not None or (self.syncing and not force):
            return
        self.hole_timer = asyncio.get_running_loop().call_later(HOLE_WAIT_SECONDS, self.hole_waited)

    def hole_waited(self):
        self.hole_timer = None
        self.request_sync()

    def request_sync(self):
        if self.hole_timer is not None:
            self.hole_timer.cancel()
            self.hole_timer = None
        if self.syncing:
            self.sync_again = True
            return
        self.sync_again = False
        self.syncing = self.send({"action": "sync", "after": self.offset, "epoch": self.epoch or ""})

    def synced(self, frame):
        self.syncing = False
        if frame.get("reset"):
            self.epoch, self.offset, self.held = frame["epoch"], frame["offset"], {}
            self.show(frame["messages"])
        else:
            for change in frame["changes"]:
                self.receive(change)
        if frame["has_more"] or self.sync_again:
            self.request_sync()
        else:
            self.drain_held()
