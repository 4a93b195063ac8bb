"""The time push: one publisher, one tick a second, on the wall-clock second,
to the "time" group. Every socket in every process gets the same tick.

A tick's `seq` is its Unix second: the same in every process, one more each
tick and continuous across a change of publisher, so a client sees a lost
tick as a gap and a duplicate as a repeat.

Election. With Redis as the channel layer, Daphne processes elect the
publisher with a lease key (SET NX PX, renewed each tick by its holder).
When the holder dies or stalls, its lease runs out after
REALTIME_PUBLISHER_LEASE_SECONDS and the next process to try (every tick)
takes over, so publishing moves within lease + 1 s. Without Redis there is
one process and it always publishes.

Which Redis holds the lease. Every process tries the same list in the same
order (REDIS_URL, then each of REDIS_SHARDS: redis_connection.lease_clients)
and uses the first one that answers, so losing any one Redis moves the
lease to the next one at the next tick, and all processes agree on it as
long as they see the same Redis up. Not a majority: with two shards a
majority cannot survive the loss of either, and it is not needed, because
no tick reaches a socket twice even with two publishers (below). A Redis
that answers some processes and not others can briefly give two
publishers; they cost a duplicate message in Redis, never on a socket.

Late, not lost. A tick for second s is still sent if no newer tick has
been: the publisher sends, in order, every second after the newest one
known to be sent up to now, so a publish that failed (Redis overloaded, a
timeout) is retried every RETRY_SECONDS, a publisher that woke up late
sends the seconds it slept through, and a new publisher sends the seconds
its predecessor missed. "Newest known sent" is the greatest of what this
process published, what the lease's Redis records (each holder records its
last second with each renewal) and the newest tick this process's hub
delivered. Ticks more than REALTIME_TICK_CATCH_UP_SECONDS late are dropped.

Never twice. The guarantee is in the hub: the time group is an ordered
group (realtime.consumer_kit.hub), and each process delivers a tick only if its
seq is greater than the last it delivered. That one cheap check covers the
copies the tick gets on each shard, two publishers overlapping, and a
stalled publisher that resumes and sends a second another process already
sent. The publisher does not claim each seq in Redis before publishing:
a publisher stopped between its claim and its publish would lose that tick
for good, while a publish without a claim is at worst a copy the hubs drop.
The lease check comes right before each round of publishing, so a resumed
publisher that lost its lease sends nothing; only one stopped between the
check and the publish sends stale ticks, which every hub drops.

Through any one shard. The tick goes to the time group's name on every
shard (hub.publish with seq), and counts as sent once one shard took it and
it came back through Redis to this process's own hub (hub.came_back): after
an outage Redis accepts a PUBLISH before the subscribers have reconnected,
and a tick published to nobody would be lost. The receipt proves only this
process's subscription; the others reconnect on the same schedule, and a
tick sent again reaches each socket once anyway.
"""

import asyncio
import logging
import os
import time
import uuid
from datetime import UTC, datetime

from django.conf import settings

from realtime.consumer_kit import redis_connection
from realtime.consumer_kit.hub import get_hub
from realtime.ops import counts
from realtime.ops.outages import REDIS

logger = logging.getLogger(__name__)

TIME_GROUP = "time"

# A publish that failed is tried again this soon (not at the next second).
RETRY_SECONDS = 0.2
# A tick counts as sent when it came back to this process's own hub (a
# subscriber like the others) within this long; else it is sent again.
RECEIPT_SECONDS = 1.0

# Renew the lease if we hold it, else take it if it is free. The holder
# records the newest second it published (ARGV[3]) and learns the newest any
# holder recorded, so a new holder can send the seconds its predecessor
# missed. The record outlives no catch-up window (ARGV[4] s): after a longer
# silence there is nothing left to send.
HOLD_LEASE = """
local held = redis.call('GET', KEYS[1]) == ARGV[1]
if held then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    held = true
end
if not held then
    return {0, 0}
end
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local sent = tonumber(ARGV[3])
if sent > last then
    last = sent
    redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
end
return {1, last}
"""


def make_tick(second, now):
    """The tick of wall-clock `second` (Unix), published at `now`."""
    moment = datetime.fromtimestamp(now, UTC)
    return {
        "seq": second,
        # Go's time.RFC1123 layout, in UTC.
        "time": time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(second)),
        "iso": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
    }


class LocalLease:
    """One process, no Redis: this process is the publisher."""

    async def hold(self, sent):
        return True, 0


class RedisLease:
    """The lease on the first of `clients` that answers (see the module
    docstring). `hold(sent)` returns (held, newest second recorded), or
    (None, 0) when no Redis answered."""

    def __init__(self, clients, key, seconds, record_seconds):
        self.clients = clients
        self.keys = [key, f"{key}:last"]
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.milliseconds = int(seconds * 1000)
        self.record_seconds = max(1, int(record_seconds))
        self.scripts = [client.register_script(HOLD_LEASE) for client in clients]
        self.held = False
        self.where = None  # index of the Redis that answered last
        self.failing = set()  # indexes of the Redis that did not answer last time

    async def hold(self, sent):
        for index, script in enumerate(self.scripts):
            try:
                held, last = await script(
                    keys=self.keys, args=[self.owner, self.milliseconds, sent, self.record_seconds]
                )
            except Exception as error:  # this Redis is away or refusing: the next one
                counts.REDIS_ERRORS.inc("tick_lease")
                if index not in self.failing:
                    self.failing.add(index)
                    if len(self.scripts) > 1:  # one Redis: REDIS.failed says it all
                        logger.warning(
                            "tick lease: Redis %d of %d did not answer: %s", index + 1, len(self.scripts), error
                        )
                REDIS.failed("tick lease", error)
                continue
            if index in self.failing:
                self.failing.discard(index)
                if len(self.scripts) > 1:
                    logger.info("tick lease: Redis %d of %d answers again", index + 1, len(self.scripts))
            REDIS.answered()
            self._note(bool(held), index)
            return bool(held), int(last)
        self._note(False, None)
        return None, 0

    def _note(self, held, index):
        if index is None:
            return  # no Redis answered: REDIS.failed said so; still the publisher when one answers
        if held != self.held or (held and index != self.where):
            where = f" on Redis {index + 1} of {len(self.scripts)}" if held else ""
            logger.info("tick publisher %s%s: %s", "elected" if held else "stood down", where, self.owner)
        self.held, self.where = held, index


def make_lease():
    if redis_connection.configured():
        return RedisLease(
            redis_connection.lease_clients(socket_timeout=0.5, socket_connect_timeout=0.5),
            f"{settings.CHANNEL_LAYER_PREFIX}:time:publisher",
            settings.REALTIME_PUBLISHER_LEASE_SECONDS,
            settings.REALTIME_TICK_CATCH_UP_SECONDS,
        )
    return LocalLease()


def start_tick_publisher():
    """Run this process's TickPublisher, once per hub (per process). The time
    sockets start it: every process that serves one takes part in the
    election, and publishes while it holds the lease."""
    hub = get_hub()
    return hub.run_once("tick-publisher", lambda: TickPublisher(hub).run())


class TickPublisher:
    def __init__(self, hub, lease=None, catch_up_seconds=None):
        self.hub = hub
        self.lease = lease or make_lease()
        self.catch_up_seconds = (
            settings.REALTIME_TICK_CATCH_UP_SECONDS if catch_up_seconds is None else catch_up_seconds
        )
        self.sent = 0  # the newest second this process published

    async def run(self):
        retry = False
        while True:
            if retry:
                await asyncio.sleep(RETRY_SECONDS)
            else:
                await self.sleep_until_next_second()
            retry = not await self.publish_due()

    @staticmethod
    async def sleep_until_next_second():
        second = int(time.time()) + 1
        # The event loop may wake us up to a millisecond early (uvloop
        # rounds timers to ms); a tick must not go out before its second,
        # or its "iso" (…:07.999Z) contradicts its "time" (…:08).
        while (remaining := second - time.time()) > 0:
            await asyncio.sleep(remaining)

    async def publish_due(self):
        """Send every due second not known to be sent, oldest first, if this
        process holds the lease. False: something is left to retry soon."""
        due = int(time.time())
        held, recorded = await self.lease.hold(self.sent)
        counts.tick_publisher(held)
        if held is None:
            return False  # no Redis answered: the tick is still owed
        if not held:
            return True
        known = max(self.sent, recorded, self.hub.last_delivered(TIME_GROUP))
        # Nothing known (the first publisher after a silence longer than the
        # catch-up window): this second only.
        first = due if not known else max(known, due - self.catch_up_seconds) + 1
        for second in range(first, due + 1):
            try:
                await self.hub.publish(TIME_GROUP, make_tick(second, time.time()), seq=second)
                counts.tick_published(time.time() - second)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                REDIS.failed(f"publishing tick {second}", error)  # retried in RETRY_SECONDS
                return False
            if not await self.hub.came_back(TIME_GROUP, second, RECEIPT_SECONDS):
                # Redis took it, but this process's subscription is not back yet.
                REDIS.failed("the tick's receipt", f"tick {second} did not come back through Redis, sending it again")
                return False
            self.sent = second
        return True
