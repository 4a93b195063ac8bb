"""When the garbage collector's full collections run: on a schedule, at
half past a second, instead of whenever allocation counts say.

Why: a full (generation 2) collection walks every tracked object and stops
the event loop meanwhile. With 5,000 sockets open in a process that was
measured at 300-600 ms, and CPython starts one on its own some time after
a burst of connections: the time push to every socket that came due
during it was late by that much (a tick's p99 of 237 ms against ~105 ms
for the others). Young collections (generations 0 and 1) stay automatic:
they take milliseconds. Full ones run every REALTIME_GC_FULL_SECONDS (0:
CPython's own schedule), at the housekeeping moment (half past a second,
furthest from the whole-second time push: realtime/housekeeping.py);
reference cycles that became garbage are reclaimed then rather than sooner.

At start-up every object made so far (Django, the apps, the libraries)
lives as long as the process: frozen out of the generations
(gc.freeze), no collection walks them.
"""

import asyncio
import gc
import logging
import time

from realtime import housekeeping

logger = logging.getLogger(__name__)

# Generation 2's threshold counts generation-1 collections: this many never
# comes (one a few seconds under load would take years).
NEVER = 1 << 30


def schedule_full_collections(every_seconds):
    """Freeze the start-up objects; with `every_seconds` > 0, take full
    collections off CPython's schedule and run them from the event loop
    (a task: keep the returned one)."""
    gc.freeze()
    if every_seconds <= 0:
        return None
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)
    return asyncio.ensure_future(run_full_collections(every_seconds))


async def run_full_collections(every_seconds):
    while True:
        after = time.time() + every_seconds
        await asyncio.sleep(every_seconds + housekeeping.seconds_until(after))
        started = time.perf_counter()
        found = gc.collect(2)
        logger.debug("full collection: %d unreachable objects, %.0f ms", found, (time.perf_counter() - started) * 1000)
