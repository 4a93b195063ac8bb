"""A raw aiohttp WebSocket server on uvloop (`web.WebSocketResponse`, no
Django, no Channels):

    python -m bench.peers.aiohttp_server PORT

/ws/echo echoes every message; /ws/time gets the tick at the top of each
second, sent to each socket in turn (`send_str`; aiohttp has no broadcast).
Compression declined, no heartbeat pings, frame limit 1 MiB.
"""

from aiohttp import WSMsgType, web

from bench.peers.ticks import every_second, port_from_command_line, run_on_uvloop

subscribers = set()


async def echo(request):
    socket = web.WebSocketResponse(max_msg_size=2**20, compress=False)
    await socket.prepare(request)
    async for message in socket:
        if message.type == WSMsgType.TEXT:
            await socket.send_str(message.data)
        elif message.type == WSMsgType.BINARY:
            await socket.send_bytes(message.data)
    return socket


async def time_push(request):
    socket = web.WebSocketResponse(compress=False)
    await socket.prepare(request)
    subscribers.add(socket)
    try:
        async for _ in socket:
            pass
    finally:
        subscribers.discard(socket)
    return socket


async def push(text):
    for socket in list(subscribers):
        await socket.send_str(text)


async def main(port):
    app = web.Application()
    app.router.add_get("/ws/echo", echo)
    app.router.add_get("/ws/time", time_push)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    await every_second(push)


if __name__ == "__main__":
    run_on_uvloop(main(port_from_command_line(__doc__).port))
