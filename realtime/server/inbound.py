"""The per-socket queue of received messages that Daphne hands the
application as `receive`, with a hook for input back-pressure."""

import asyncio


class InboundQueue:
    """The queue Daphne hands the application as `receive`. Putting never
    fails (Daphne calls put_nowait from the protocol); taking a message out
    resumes a paused transport once the backlog is low again.

    Not an asyncio.Queue: that holds three deques and an Event (~2.9 KiB per
    open socket, a tenth of an idle connection's memory) for features one
    reader and an unbounded put do not need. Here: a list (at most
    REALTIME_INBOUND_QUEUE long, as reading pauses there) and the single
    reader's future while it waits."""

    __slots__ = ("items", "waiter", "on_drained", "low_water", "on_idle")

    def __init__(self):
        self.items = []
        self.waiter = None
        self.on_drained = None
        self.low_water = 0
        self.on_idle = None  # called when the reader comes back to an empty queue

    def put_nowait(self, item):
        self.items.append(item)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def qsize(self):
        return len(self.items)

    async def get(self):
        if not self.items and self.on_idle is not None:
            self.on_idle()
        while not self.items:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        item = self.items.pop(0)
        if self.on_drained is not None and len(self.items) <= self.low_water:
            self.on_drained()
        return item
