"""What the Python peers share: the /ws/time tick, as ours sends it, pushed
at the top of each second; their command line and event loop.

The tick is {"time", "iso", "seq"}: "seq" its Unix second, "time" that
second in Go's RFC 1123 layout, "iso" the moment it was sent (the fan-out
benchmark's latency counts from it).
"""

import argparse
import asyncio
import inspect
import json
import time
from datetime import UTC, datetime


def tick_text(second, now):
    moment = datetime.fromtimestamp(now, UTC)
    return json.dumps(
        {
            "time": time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(second)),
            "iso": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "seq": second,
        },
        separators=(",", ":"),
    )


async def every_second(push):
    """push(tick text) at the top of each second, forever (awaited when it
    returns an awaitable)."""
    while True:
        second = int(time.time()) + 1
        # uvloop may wake a millisecond early: never send a tick before its second.
        while (remaining := second - time.time()) > 0:
            await asyncio.sleep(remaining)
        pushed = push(tick_text(second, time.time()))
        if inspect.isawaitable(pushed):
            await pushed


def port_from_command_line(doc):
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument(
        "--compression",
        choices=["deflate"],
        default=None,
        help="accept permessage-deflate (where the server can); default: decline it",
    )
    return parser.parse_args()


def run_on_uvloop(main):
    """Run the coroutine `main` on uvloop (asyncio's loop when it is missing)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
