"""When periodic housekeeping runs: at half past a second.

Why: the server's own periodic passes over every connection (Daphne's
application and timeout checkers, the keepalive pings they send), the
tracing writer's flush and the full garbage collections each hold the
event loop (or the GIL) for milliseconds per thousand sockets, and the
time push to every socket starts on the whole second. A free-running timer
drifts across that moment and, every few seconds, delays a whole tick; at
half past a second they run furthest from it.
"""

# The moment within each second that housekeeping aims at.
PHASE = 0.5
# A timer due at that moment that fires at most this late still runs at once
# (rather than waiting for the next one).
LATE_SLACK = 0.1


def seconds_until(now, interval=1.0, slack=0.0):
    """Seconds from `now` to the next housekeeping moment on a grid of
    `interval` seconds. A moment passed less than `slack` seconds ago counts
    as now (a timer that was due then fires a little late)."""
    wait = interval - ((now - PHASE) % interval)
    return 0.0 if wait > interval - slack else wait
