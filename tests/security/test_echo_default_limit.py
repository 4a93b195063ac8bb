"""/ws/echo's message limit with its default value (REALTIME_ECHO_MAX_MESSAGE_BYTES
unset, 1 MiB) on a real server: a message of exactly 1 MiB comes back whole,
text and binary; one byte more closes the socket with 1009."""

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

MIB = 1024 * 1024


async def test_one_mib_echoes_and_one_byte_more_closes_with_1009(daphne):
    """Tried: a 1 MiB binary message, a 1 MiB text message (ASCII), then a
    1 MiB + 1 byte message, on a server started without any limit setting."""
    server = daphne()
    async with websockets.connect(f"{server.ws_url}/ws/echo", max_size=None, compression=None) as ws:
        binary = bytes(range(256)) * (MIB // 256)
        await ws.send(binary)
        assert await ws.recv() == binary
        text = "0123456789abcdef" * (MIB // 16)
        await ws.send(text)
        assert await ws.recv() == text
        await ws.send(b"x" * (MIB + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None, "the server dropped the connection without a close frame"
    assert closed.value.rcvd.code == 1009
    assert "Traceback" not in server.output()


async def test_the_limit_counts_utf8_bytes_not_characters(daphne):
    """Tried: a text message of 349,526 three-byte characters (1,048,578
    bytes, 2 over the limit): it closes with 1009 although it is far fewer
    characters than 1 MiB."""
    server = daphne()
    async with websockets.connect(f"{server.ws_url}/ws/echo", max_size=None, compression=None) as ws:
        await ws.send("€" * 349_526)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
