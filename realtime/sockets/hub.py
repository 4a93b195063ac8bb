"""Group fan-out in two tiers: one channel-layer message per *process*, then a
direct send to each of that process's sockets.

Stock Channels gives every socket its own channel-layer channel and sends a
group message once per member (thousands of Redis operations for one tick).
Here each process owns one channel, joins a group once when its first local
socket joins, and fans a received group message out in memory. With the
in-memory layer that is one process; with channels-redis (pub/sub) every
Daphne process subscribed to the group gets the message once.

A socket joins with `await hub.join(group, socket)` and receives
`socket.hub_message(group, data, memo)`; `memo` is a dict shared by every
socket of one delivery, so a message is encoded once per process, not once
per socket.
"""

import asyncio
import logging
import weakref

from channels.layers import get_channel_layer

from realtime.ops import counts

logger = logging.getLogger(__name__)

# How often the process re-subscribes its groups. It costs one command per
# group, and brings the subscriptions back if the channel layer lost them
# (a Redis restart).
RESUBSCRIBE_SECONDS = 10.0


class Hub:
    def __init__(self, layer):
        self.layer = layer
        self.members = {}  # group -> set of sockets in this process
        self.channel_name = None
        self.reader = None
        self.refresher = None
        self.started = asyncio.Event()
        self.background = set()  # long-lived tasks started by services
        self.services = {}  # name -> the task of a service started once per hub

    async def start(self):
        if self.reader is None:
            self.reader = asyncio.ensure_future(self._run())
        await self.started.wait()

    async def join(self, group, socket):
        await self.start()
        members = self.members.setdefault(group, set())
        members.add(socket)
        if len(members) == 1:
            await self._subscribe(group)

    async def leave(self, group, socket):
        members = self.members.get(group)
        if not members or socket not in members:
            return
        members.discard(socket)
        if not members:
            del self.members[group]
            try:
                await self.layer.group_discard(group, self.channel_name)
            except Exception:  # the layer is down; it has forgotten us anyway
                counts.CHANNEL_LAYER_ERRORS.inc("group_discard")
                logger.warning("could not leave group %s", group, exc_info=True)

    async def publish(self, group, data):
        """Send `data` (JSON-serialisable) to every socket in `group`, in every
        process."""
        try:
            await self.layer.group_send(group, group_message(group, data))
        except Exception:  # the caller says what was lost; this counts it
            counts.CHANNEL_LAYER_ERRORS.inc("publish")
            raise

    def run_in_background(self, coroutine):
        task = asyncio.ensure_future(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    def run_once(self, name, start):
        """Run the service `name` (the coroutine `start()` makes) in the
        background, unless this hub already runs it. Services that belong to
        one feature (the tick publisher) start here from that feature, so the
        hub knows no feature."""
        task = self.services.get(name)
        if task is None:
            task = self.services[name] = self.run_in_background(start())
        return task

    async def _subscribe(self, group):
        try:
            await self.layer.group_add(group, self.channel_name)
        except Exception:
            # Redis is away: the refresher subscribes again when it is back.
            counts.CHANNEL_LAYER_ERRORS.inc("group_add")
            logger.warning("could not join group %s; will retry", group, exc_info=True)

    async def _run(self):
        self.channel_name = await self.layer.new_channel()
        self.refresher = asyncio.ensure_future(self._refresh())
        self.started.set()
        while True:
            try:
                message = await self.layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception:
                counts.CHANNEL_LAYER_ERRORS.inc("receive")
                logger.warning("channel layer receive failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            await self.deliver(message.get("group"), message.get("data"))

    async def deliver(self, group, data):
        memo = {}
        for socket in list(self.members.get(group, ())):
            try:
                await socket.hub_message(group, data, memo)
            except Exception:
                logger.exception("delivering %s to %r failed", group, socket)

    async def _refresh(self):
        while True:
            await asyncio.sleep(RESUBSCRIBE_SECONDS)
            for group in list(self.members):
                await self._subscribe(group)


def group_message(group, data):
    """The channel-layer message a hub delivers to its sockets of `group`."""
    return {"type": "hub.message", "group": group, "data": data}


def publish_from_sync(group, data):
    """Hub.publish for synchronous code off the event loop (a Django view
    or the admin, in a worker thread): straight to the channel layer, which
    reaches every process's hub."""
    from asgiref.sync import async_to_sync

    try:
        async_to_sync(get_channel_layer().group_send)(group, group_message(group, data))
    except Exception:
        counts.CHANNEL_LAYER_ERRORS.inc("publish")
        raise


_hubs = weakref.WeakKeyDictionary()


def get_hub():
    """The hub of the running event loop (one per process in Daphne; one per
    test loop under pytest)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(get_channel_layer())
    return hub
