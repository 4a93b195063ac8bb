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
per socket. A member that can take it synchronously (`hub_message_now`
returns True) is served in one plain loop before any is awaited.

Ordered groups on every shard (the time push): channels-redis puts a group
on one shard (a consistent hash of its name), so with REDIS_SHARDS that
shard down means the group is silent. A group joined with
`every_shard=True` is subscribed under one name per shard (the group's own
name on its shard, "<group>.shard<k>" names found to land on the others),
and `publish(group, data, seq=...)` sends the message to all of them at
once: it gets through while any shard is up. The price is one Redis message
per shard per publish instead of one, and every process receiving each
message once per shard, which is why these messages carry a `seq`: the hub
delivers a message of a group only if its seq is greater than the last one
it delivered for that group, so each socket gets it at most once and never
after a newer one. This per-process check is also what makes two
overlapping publishers (a stalled one resuming) harmless.
"""

import asyncio
import logging
import weakref

from channels.layers import get_channel_layer

from realtime.consumer_kit.layer_watch import LayerWatch
from realtime.ops import counts
from realtime.ops.outages import REDIS

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
        self.shard_names = {}  # group joined on every shard -> its name on each shard
        self.delivered = {}  # group -> seq of the last message delivered (ordered groups)
        self.sending = {}  # per-shard group name -> the send to it still under way
        self.progress = asyncio.Event()  # set (then replaced) at each ordered delivery
        self.watch = LayerWatch(self)  # knows when group messages may have been lost
        self.watcher = None

    def on_layer_back(self, callback):
        """Run `callback(hub)` (a coroutine function) whenever the channel
        layer answers again after group messages may have been lost
        (realtime/consumer_kit/layer_watch.py)."""
        self.watch.on_layer_back(callback)

    async def start(self):
        if self.reader is None:
            self.reader = asyncio.ensure_future(self._run())
        await self.started.wait()

    async def join(self, group, socket, every_shard=False):
        await self.start()
        if every_shard:
            self.names_on_every_shard(group)
        members = self.members.setdefault(group, set())
        members.add(socket)
        if len(members) == 1:
            await self._subscribe(group)

    def names_on_every_shard(self, group):
        """The names `group` goes by on each channel-layer shard, one per
        shard (just [group] with one Redis or the in-memory layer), the same
        in every process."""
        names = self.shard_names.get(group)
        if names is None:
            names = self.shard_names[group] = group_names_per_shard(self.layer, group)
        return names

    def last_delivered(self, group):
        """The seq of the newest message of `group` this process delivered (0: none)."""
        return self.delivered.get(group, 0)

    async def came_back(self, group, seq, timeout):
        """Wait until this process has received message `seq` of `group` (or
        a newer one) through the channel layer; False after `timeout` s.
        True at once if no local socket is in the group (nothing to wait for).
        A publisher uses it as a receipt: Redis accepts a PUBLISH that
        nobody is subscribed to yet (subscribers still reconnecting after an
        outage), and that message is gone."""
        deadline = asyncio.get_running_loop().time() + timeout
        while group in self.members and self.delivered.get(group, 0) < seq:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self.progress.wait(), remaining)
            except TimeoutError:
                return False
        return True

    async def leave(self, group, socket):
        members = self.members.get(group)
        if not members or socket not in members:
            return
        members.discard(socket)
        if not members:
            del self.members[group]
            for name in self.shard_names.get(group, (group,)):
                try:
                    await self.layer.group_discard(name, self.channel_name)
                except Exception as error:  # the layer is down; it has forgotten us anyway
                    counts.CHANNEL_LAYER_ERRORS.inc("group_discard")
                    REDIS.failed(f"leaving group {name}", error)

    async def publish(self, group, data, seq=None):
        """Send `data` (JSON-serialisable) to every socket in `group`, in every
        process. With `seq` (an int, growing), `group` is an ordered group:
        the message goes to every shard and counts as sent once one shard
        took it (raises only if none did); each process delivers it at most
        once, and not after a message of a greater seq."""
        message = group_message(group, data)
        if seq is None:
            try:
                await self.layer.group_send(group, message)
            except Exception as error:  # the caller says what was lost; this counts it
                counts.CHANNEL_LAYER_ERRORS.inc("publish")
                self.watch.lost(f"publishing to {group} failed: {type(error).__name__}")
                raise
            return
        message["seq"] = seq
        pending = set()
        for name in self.names_on_every_shard(group):
            if name in self.sending:
                # That shard has not taken the previous message yet (down or
                # overloaded): leave it to the others rather than queue
                # behind it without end.
                continue
            task = self.sending[name] = asyncio.ensure_future(self.layer.group_send(name, message))
            task.add_done_callback(lambda done, name=name: self._sent(name, done))
            pending.add(task)
        failure: BaseException | None = None
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is None:
                    return
                failure = task.exception()
        counts.CHANNEL_LAYER_ERRORS.inc("publish")
        self.watch.lost(f"publishing to {group} failed on every shard")
        raise failure or ConnectionError(f"every shard is still busy with an earlier message of {group}")

    def _sent(self, name, task):
        self.sending.pop(name, None)
        if not task.cancelled():
            task.exception()  # retrieved: its failure was reported by publish() or is moot

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
        for name in self.shard_names.get(group, (group,)):
            try:
                await self.layer.group_add(name, self.channel_name)
            except Exception as error:
                # Redis (this shard) is away: the refresher subscribes again
                # when it is back.
                counts.CHANNEL_LAYER_ERRORS.inc("group_add")
                REDIS.failed(f"joining group {name}", error)
            else:
                REDIS.answered()

    async def _new_channel(self):
        # channels-redis subscribes a new channel on the shard its (random)
        # name hashes to; with that shard down, another name lands elsewhere.
        while True:
            try:
                return await self.layer.new_channel()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                counts.CHANNEL_LAYER_ERRORS.inc("new_channel")
                REDIS.failed("opening the process channel", error)
                await asyncio.sleep(0.2)

    async def _run(self):
        self.channel_name = await self._new_channel()
        self.refresher = asyncio.ensure_future(self._refresh())
        self.started.set()
        self.watcher = asyncio.ensure_future(self.watch.run())
        while True:
            try:
                message = await self.layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                counts.CHANNEL_LAYER_ERRORS.inc("receive")
                REDIS.failed("receiving from the channel layer", error)
                await asyncio.sleep(0.5)
                continue
            group = message.get("group")
            seq = message.get("seq")
            if seq is not None:
                if seq <= self.delivered.get(group, 0):
                    continue  # a copy from another shard, or a stale publisher's
                self.delivered[group] = seq
                self.progress.set()
                self.progress = asyncio.Event()
            await self.deliver(group, message.get("data"))

    async def deliver(self, group, data):
        """Every local socket of `group` gets `data`: first, in one plain
        loop, each that can take it synchronously (hub_message_now: the
        frame written straight to its connection), then the others one
        await each. A tick to 5,000 local sockets spent more than half its
        time in the per-socket coroutine, ASGI message and server lookups
        of the awaited path."""
        memo = {}
        waiting = []
        for socket in list(self.members.get(group, ())):
            try:
                now = getattr(socket, "hub_message_now", None)  # a member need not have it
                if now is None or not now(group, data, memo):
                    waiting.append(socket)
            except Exception:
                logger.exception("delivering %s to %r failed", group, socket)
        for socket in waiting:
            try:
                await socket.hub_message(group, data, memo)
            except Exception:
                logger.exception("delivering %s to %r failed", group, socket)

    async def _refresh(self):
        while True:
            await asyncio.sleep(RESUBSCRIBE_SECONDS)
            for group in list(self.members):
                await self._subscribe(group)


def group_names_per_shard(layer, group):
    """One name per shard of a channels-redis pub/sub layer, each landing on
    its shard, `group` itself first on its own; [group] for other layers.

    This asks channels-redis's RedisPubSubLoopLayer where a name lands
    (`_shards`, `_get_shard`, `_get_group_channel_name`: private, listed and
    probed at start in realtime/server/internals.py) rather than copying its
    hash, so it stays right if the hash changes. Other layers: [group].
    """
    if type(layer).__module__ != "channels_redis.pubsub":
        return [group]
    shards = list(layer._shards)

    def shard_of(name):
        return layer._get_shard(layer._get_group_channel_name(name))

    if len(shards) <= 1:
        return [group]
    names = {id(shard_of(group)): group}
    for k in range(1, 100 * len(shards)):  # a 12-bit CRC: a few names reach every shard
        if len(names) == len(shards):
            break
        names.setdefault(id(shard_of(f"{group}.shard{k}")), f"{group}.shard{k}")
    return [group] + [name for name in names.values() if name != group]


def group_message(group, data):
    """The channel-layer message a hub delivers to its sockets of `group`."""
    return {"type": "hub.message", "group": group, "data": data}


def publish_from_sync(group, data):
    """Hub.publish (unordered) for synchronous code off the event loop (a
    Django view or the admin, in a worker thread): straight to the channel
    layer, which reaches every process's hub."""
    from asgiref.sync import async_to_sync

    try:
        async_to_sync(get_channel_layer().group_send)(group, group_message(group, data))
    except Exception:
        counts.CHANNEL_LAYER_ERRORS.inc("publish")
        raise


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub():
    """The hub of the running event loop (one per process in Daphne; one per
    test loop under pytest)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(get_channel_layer())
    return hub
