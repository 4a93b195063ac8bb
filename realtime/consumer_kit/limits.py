"""What one socket may send: the message size limit and the flood throttle.

The numbers are settings (config/settings.py, from the environment); this
module names which setting each limit comes from, so a consumer picks a
limit by name (EchoConsumer takes the larger echo limit) and nothing else
reads these settings.
"""

import time

from django.conf import settings

# The settings that hold each socket's largest message, in bytes.
MAX_MESSAGE_BYTES = "REALTIME_MAX_MESSAGE_BYTES"
ECHO_MAX_MESSAGE_BYTES = "REALTIME_ECHO_MAX_MESSAGE_BYTES"


def max_message_bytes(setting=MAX_MESSAGE_BYTES):
    return getattr(settings, setting)


def flood_throttle():
    """A socket's own TokenBucket: REALTIME_RATE_PER_SECOND on average, up to
    REALTIME_RATE_BURST at once (a rate of 0 turns it off)."""
    return TokenBucket(settings.REALTIME_RATE_PER_SECOND, settings.REALTIME_RATE_BURST)


class TokenBucket:
    """`rate` messages a second on average, up to `burst` at once.

    `take()` spends one token and returns how long the caller must wait
    before acting on the message (0 when a token was there). The caller
    waits instead of dropping, so a flooding client is slowed, not lossy:
    while it waits, the server's inbound queue fills and Daphne stops reading
    the client's TCP connection (realtime/server/inbound.py).
    """

    __slots__ = ("rate", "burst", "clock", "tokens", "updated")  # one per open socket

    def __init__(self, rate, burst, clock=time.monotonic):
        self.rate = float(rate)
        self.burst = float(burst)
        self.clock = clock
        self.tokens = self.burst
        self.updated = clock()

    def take(self, now=None):
        """`now`: the caller's reading of `clock`, if it has one (one clock
        read less per message)."""
        rate = self.rate
        if rate <= 0:
            return 0.0  # disabled
        if now is None:
            now = self.clock()
        tokens = self.tokens + (now - self.updated) * rate
        if tokens > self.burst:
            tokens = self.burst
        self.updated = now
        self.tokens = tokens = tokens - 1.0
        if tokens >= 0:
            return 0.0
        return -tokens / rate
