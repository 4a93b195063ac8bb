"""A raw `websockets` server on uvloop (no Django, no Channels), the floor a
Python WebSocket server reaches on this machine:

    python -m bench.peers.websockets_server PORT [--compression deflate]

/ws/echo echoes every message; /ws/time gets the tick at the top of each
second, sent with `websockets.broadcast` (the frame built once, written to
each connection without a coroutine per socket: the library's own fast path
for this case). Without --compression it declines compression, like the
other servers; `--compression deflate` is the library's default
(permessage-deflate, server window bits 12, memLevel 5), for the
idle-memory row with a browser's offer. Frame limit 1 MiB, Daphne's default.
"""

from websockets.asyncio.server import broadcast, serve

from bench.peers.ticks import every_second, port_from_command_line, run_on_uvloop

subscribers = set()


async def handler(connection):
    if connection.request.path == "/ws/time":
        subscribers.add(connection)
        try:
            await connection.wait_closed()
        finally:
            subscribers.discard(connection)
        return
    async for message in connection:
        await connection.send(message)


async def main(port, compression):
    async with serve(handler, "127.0.0.1", port, max_size=2**20, compression=compression):
        await every_second(lambda text: broadcast(subscribers, text))


if __name__ == "__main__":
    args = port_from_command_line(__doc__)
    run_on_uvloop(main(args.port, args.compression))
