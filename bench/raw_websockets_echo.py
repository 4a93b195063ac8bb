"""A second baseline: a plain `websockets` echo server (no Django, no
Channels), the floor a Python WebSocket server reaches on this machine:

    python -m bench.raw_websockets_echo PORT
"""

import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(connection):
    async for message in connection:
        await connection.send(message)


async def main(port):
    # Same frame limit as Daphne's default (1 MiB); no compression, like the
    # other servers in the benchmark.
    async with serve(echo, "127.0.0.1", port, max_size=2**20, compression=None):
        await asyncio.Future()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(int(sys.argv[1])))
    else:
        uvloop.run(main(int(sys.argv[1])))
