"""The time push: one publisher, one tick a second, on the wall-clock second,
to the "time" group. Every socket in every process gets the same tick.

With Redis as the channel layer, Daphne processes elect the publisher with a
lease key in Redis (SET NX PX, renewed each tick by its holder). When the
holder dies its lease runs out after REALTIME_PUBLISHER_LEASE_SECONDS and the
next process to try (every tick) takes over, so publishing moves within
lease + 1 s. Without Redis there is one process and it always publishes.

A tick's `seq` is its Unix second: the same in every process, one more each
tick and continuous across a change of publisher, so a client sees a lost
tick as a gap and a duplicate as a repeat.
"""

import asyncio
import logging
import os
import time
import uuid
from datetime import datetime, timezone

from django.conf import settings

from realtime.ops import counts
from realtime.sockets import redis_connection
from realtime.sockets.hub import get_hub

logger = logging.getLogger(__name__)

TIME_GROUP = "time"

# Renew the lease if we hold it, else take it if it is free.
HOLD_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return 1
end
return 0
"""


def make_tick(second, now):
    """The tick of wall-clock `second` (Unix), published at `now`."""
    moment = datetime.fromtimestamp(now, timezone.utc)
    return {
        "seq": second,
        # Go's time.RFC1123 layout, in UTC.
        "time": time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(second)),
        "iso": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
    }


class LocalLease:
    """One process, no Redis: this process is the publisher."""

    async def hold(self):
        return True


class RedisLease:
    def __init__(self, client, key, seconds):
        self.client = client
        self.key = key
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.milliseconds = int(seconds * 1000)
        self.script = self.client.register_script(HOLD_LEASE)
        self.held = False

    async def hold(self):
        try:
            held = bool(await self.script(keys=[self.key], args=[self.owner, self.milliseconds]))
        except Exception as error:  # Redis away: nobody can publish through it anyway
            counts.REDIS_ERRORS.inc("tick_lease")
            logger.warning("tick lease check failed: %s", error)
            held = False
        if held != self.held:
            logger.info("tick publisher %s: %s", "elected" if held else "stood down", self.owner)
            self.held = held
        return held


def make_lease():
    if redis_connection.configured():
        # The lease lives on REDIS_URL, the first shard, or the master the
        # sentinels name (after a failover, the new one: see redis_connection).
        return RedisLease(
            redis_connection.client(use_asyncio=True, socket_timeout=1.0, socket_connect_timeout=1.0),
            f"{settings.CHANNEL_LAYER_PREFIX}:time:publisher",
            settings.REALTIME_PUBLISHER_LEASE_SECONDS,
        )
    return LocalLease()


def start_tick_publisher():
    """Run this process's TickPublisher, once per hub (per process). The time
    sockets start it: every process that serves one takes part in the
    election, and publishes while it holds the lease."""
    hub = get_hub()
    return hub.run_once("tick-publisher", lambda: TickPublisher(hub).run())


class TickPublisher:
    def __init__(self, hub, lease=None):
        self.hub = hub
        self.lease = lease or make_lease()

    async def run(self):
        while True:
            second = int(time.time()) + 1
            # The event loop may wake us up to a millisecond early (uvloop
            # rounds timers to ms); a tick must not go out before its second,
            # or its "iso" (…:07.999Z) contradicts its "time" (…:08).
            while (remaining := second - time.time()) > 0:
                await asyncio.sleep(remaining)
            held = await self.lease.hold()
            counts.tick_publisher(held)
            if not held:
                continue
            try:
                await self.hub.publish(TIME_GROUP, make_tick(second, time.time()))
                counts.tick_published(time.time() - second)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("tick not published: %s", error)
