"""Knowing when group messages may have been lost, and when that is over.

Redis pub/sub keeps nothing: a message published while a process is not
subscribed (Redis restarted and channels-redis not yet subscribed again: its
receive task waits a second before it reconnects; a Sentinel failover; a
publish that failed; this process stopped for a while) is gone, and nothing
tells the subscriber. So each hub asks: twice a second it publishes a probe
to a group of its own (on every shard, see hub.group_names_per_shard) and
waits for it to come back through the layer, as any group message would.

- The layer is *lost* when a probe does not come back within
  PROBE_TIMEOUT_SECONDS, or a later one comes back while it did not, a
  publish (a probe or any hub.publish) fails, anything of this process
  meets a Redis error (realtime/ops/outages.REDIS tells the watch: the
  subscriber's connection may have been closed and opened again between
  two probes, a Sentinel reconfiguring the old master), or this process did
  not run for STALL_SECONDS (SIGSTOP, a blocked loop).
- It is *back* when a probe published after that came back on every shard:
  from then on, messages reach this process again. The listeners
  (`on_layer_back`) then run once; the chat makes its open sockets fetch
  what they missed (realtime/chat/recovery.py).

One log line (INFO) when lost, one when back: not one per message or per
second. Redis itself going and coming back is realtime.ops.outages.REDIS's
to say (a failed probe reports to it).
"""

import asyncio
import logging
import uuid

from realtime.ops import counts
from realtime.ops.outages import REDIS

logger = logging.getLogger(__name__)

PROBE_SECONDS = 0.5
PROBE_TIMEOUT_SECONDS = 2.0
STALL_SECONDS = 2.0


class LayerWatch:
    def __init__(self, hub):
        self.hub = hub
        self.group = f"hub.probe.{uuid.uuid4().hex[:16]}"
        self.names = [self.group]
        self.round = 0
        self.sent_at = {}  # round -> loop time it was published
        self.answered = {}  # shard name -> newest round that came back
        self.lost_since = None  # loop time, while lost
        self.lost_round = 0  # a probe after this round must come back
        self.lost_reason = ""
        self.listeners = []
        self.outages = 0
        self.loop = None

    @property
    def is_lost(self):
        return self.lost_since is not None

    def on_layer_back(self, callback):
        """Run `callback(hub)` (a coroutine function) each time the layer is
        back after being lost. Registering the same callback again is a no-op."""
        if callback not in self.listeners:
            self.listeners.append(callback)

    async def run(self):
        loop = self.loop = asyncio.get_running_loop()
        REDIS.watchers.add(self)
        await self.hub.join(self.group, self, every_shard=True)
        self.names = self.hub.names_on_every_shard(self.group)
        beat = loop.time()
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            now = loop.time()
            if now - beat > PROBE_SECONDS + STALL_SECONDS:
                self.lost(f"this process did not run for {now - beat:.1f} s")
            beat = now
            self.check_overdue(now)
            self.round += 1
            self.sent_at[self.round] = now
            self.sent_at.pop(self.round - 100, None)
            for name in self.names:
                message = {"type": "hub.message", "group": self.group, "data": {"name": name, "round": self.round}}
                try:
                    await asyncio.wait_for(self.hub.layer.group_send(name, message), PROBE_TIMEOUT_SECONDS)
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    REDIS.failed("probing the channel layer", error)
                    self.lost(f"publishing failed: {type(error).__name__}")

    def check_overdue(self, now):
        for name in self.names:
            waiting_for = self.answered.get(name, 0) + 1
            sent = self.sent_at.get(waiting_for)
            if waiting_for <= self.round and sent is not None and now - sent > PROBE_TIMEOUT_SECONDS:
                self.lost(f"a probe did not come back within {PROBE_TIMEOUT_SECONDS:g} s")
                return

    async def hub_message(self, group, data, memo):
        name, round_ = data.get("name"), data.get("round", 0)
        answered = self.answered.get(name, 0)
        if round_ > answered + 1 and answered and not self.is_lost:
            # Probes go out in order, each published without error: one that
            # never came back while a later one did means the subscription
            # dropped messages in between (Redis restarted within a probe
            # period, the subscription came back in time for this one).
            self.lost(f"{round_ - answered - 1} probe(s) never came back")
        if round_ > answered:
            self.answered[name] = round_
            REDIS.answered()
        if self.is_lost and all(self.answered.get(n, 0) > self.lost_round for n in self.names):
            self.back()

    def service_failed(self, where, error):
        """Redis failed somewhere in this process (called from any thread)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        reason = f"Redis: {where}"
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.lost(reason)
        else:
            loop.call_soon_threadsafe(self.lost, reason)

    def lost(self, reason):
        """Messages may have been lost from now on (also called by the hub when
        a publish fails)."""
        # Only a probe published after this one proves the way is open again.
        self.lost_round = self.round
        if self.is_lost:
            return
        self.lost_since = asyncio.get_running_loop().time()
        self.lost_reason = reason
        self.outages += 1
        counts.CHANNEL_LAYER_ERRORS.inc("lost")
        logger.info("channel layer: group messages may be lost (%s); open sockets resync when it answers again", reason)

    def back(self):
        took = asyncio.get_running_loop().time() - self.lost_since
        self.lost_since = None
        logger.info(
            "channel layer answers again after %.1f s (lost: %s); resyncing open sockets", took, self.lost_reason
        )
        for callback in self.listeners:
            self.hub.run_in_background(callback(self.hub))
