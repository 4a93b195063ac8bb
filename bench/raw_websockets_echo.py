"""A plain `websockets` echo server on uvloop (no Django, no Channels), the
floor a Python WebSocket server reaches on this machine:

    python -m bench.raw_websockets_echo PORT [--compression deflate]

Without --compression it declines compression, like the other servers of
the echo benchmark; `--compression deflate` is the library's default
(permessage-deflate with its own choice: server window bits 12, memLevel 5),
for the idle-memory rows with a browser's offer.
"""

import argparse
import asyncio

from websockets.asyncio.server import serve


async def echo(connection):
    async for message in connection:
        await connection.send(message)


async def main(port, compression):
    # Same frame limit as Daphne's default (1 MiB).
    async with serve(echo, "127.0.0.1", port, max_size=2**20, compression=compression):
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--compression", choices=["deflate"], default=None)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args.port, args.compression))
    else:
        uvloop.run(main(args.port, args.compression))
