"""A raw picows WebSocket server on uvloop (Cython framing, a listener
object per socket, no coroutine per message; no Django, no Channels):

    python -m bench.peers.picows_server PORT

/ws/echo echoes every frame (the benchmarks' clients send whole messages,
never fragments); /ws/time gets the tick at the top of each second, the
same bytes written to each socket's transport. picows answers pings itself
and declines compression (it has none).
"""

import asyncio

from picows import WSListener, WSMsgType, ws_create_server

from bench.peers.ticks import every_second, port_from_command_line, run_on_uvloop

subscribers = set()


class Echo(WSListener):
    def on_ws_frame(self, transport, frame):
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            transport.send(frame.msg_type, frame.get_payload_as_memoryview())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


class Subscriber(Echo):
    def on_ws_connected(self, transport):
        subscribers.add(transport)

    def on_ws_disconnected(self, transport):
        subscribers.discard(transport)

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.CLOSE:
            super().on_ws_frame(transport, frame)


def listener_for(request):
    return Subscriber() if request.path in ("/ws/time", b"/ws/time") else Echo()


def push(text):
    payload = text.encode()
    for transport in list(subscribers):
        transport.send(WSMsgType.TEXT, payload)


async def main(port):
    server = await ws_create_server(listener_for, "127.0.0.1", port, backlog=4096, max_frame_size=2**20)
    async with server:
        asyncio.ensure_future(server.serve_forever())
        await every_second(push)


if __name__ == "__main__":
    run_on_uvloop(main(port_from_command_line(__doc__).port))
