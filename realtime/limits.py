"""Per-socket flood control."""

import time


class TokenBucket:
    """`rate` messages a second on average, up to `burst` at once.

    `take()` spends one token and returns how long the caller must wait
    before acting on the message (0 when a token was there). The caller
    waits instead of dropping, so a flooding client is slowed, not lossy:
    while it waits, the server's inbound queue fills and Daphne stops reading
    the client's TCP connection (realtime/server.py).
    """

    def __init__(self, rate, burst, clock=time.monotonic):
        self.rate = float(rate)
        self.burst = float(burst)
        self.clock = clock
        self.tokens = self.burst
        self.updated = clock()

    def take(self):
        if self.rate <= 0:
            return 0.0  # disabled
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1.0
        if self.tokens >= 0:
            return 0.0
        return -self.tokens / self.rate
