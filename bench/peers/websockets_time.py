"""A raw `websockets` time server on uvloop (no Django, no Channels, no
Redis), the fan-out peer of bench.time_fanout: one process; every socket on
/ws/time gets the same JSON tick {"time", "iso", "seq"} at the top of each
second, sent with `websockets.broadcast` (the frame built once, written to
each connection without a coroutine per socket: the library's own fast
path for this case). "iso" is the moment the tick was sent, "seq" its Unix
second, "time" that second in Go's RFC 1123 layout, as ours.

    python -m bench.peers.websockets_time PORT
"""

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime

from websockets.asyncio.server import broadcast, serve

connections = set()


async def subscriber(connection):
    if connection.request.path != "/ws/time":
        await connection.close(1008, "only /ws/time here")
        return
    connections.add(connection)
    try:
        await connection.wait_closed()
    finally:
        connections.discard(connection)


def tick_text(second, now):
    moment = datetime.fromtimestamp(now, UTC)
    return json.dumps({
        "time": time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(second)),
        "iso": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
        "seq": second,
    }, separators=(",", ":"))


async def ticker():
    while True:
        second = int(time.time()) + 1
        # uvloop may wake a millisecond early: never send a tick before its second.
        while (remaining := second - time.time()) > 0:
            await asyncio.sleep(remaining)
        broadcast(connections, tick_text(second, time.time()))


async def main(port):
    async with serve(subscriber, "127.0.0.1", port, compression=None):
        await ticker()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args.port))
    else:
        uvloop.run(main(args.port))
