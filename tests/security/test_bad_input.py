"""Bad input gets a clear error frame or close code, never a traceback, and
the socket (and the server) keep working afterwards."""

import asyncio
import json
import time

import pytest
import websockets
from channels.testing import WebsocketCommunicator
from websockets.exceptions import ConnectionClosed, InvalidStatus

from config.asgi import application


async def connect(path, **kwargs):
    ws = WebsocketCommunicator(application, path, **kwargs)
    connected, _ = await ws.connect()
    assert connected
    return ws


async def assert_still_echoes_mouse(ws):
    await ws.send_json_to({"x": 1, "y": 2})
    assert await ws.receive_json_from() == {"x": 1, "y": 2}


@pytest.mark.parametrize(
    "sent, code",
    [
        ('{"x": "a", "y": 1}', "invalid_type"),  # a string where an int belongs
        ('{"x": 1', "invalid_json"),  # malformed JSON
        ('{"y": 2}', "invalid_shape"),  # a field missing
        ('"just a string"', "invalid_shape"),  # not an object
        ("", "invalid_json"),  # an empty message
    ],
)
async def test_mouse_answers_bad_json_with_an_error_frame_and_stays_open(sent, code):
    ws = await connect("/ws/mouse")
    await ws.send_input({"type": "websocket.receive", "text": sent})
    reply = await ws.receive_json_from()
    assert reply["error"]["code"] == code
    assert reply["error"]["message"]
    assert "Traceback" not in json.dumps(reply)
    await assert_still_echoes_mouse(ws)
    await ws.disconnect()


async def test_person_xml_answers_malformed_xml_in_xml():
    ws = await connect("/ws/person/xml")
    await ws.send_to(text_data="<Person><Name>Jan</Name>")  # unclosed root
    reply = await ws.receive_from()
    assert reply.startswith("<error><code>invalid_xml</code><message>malformed XML")
    await ws.send_to(text_data="<Person><Name>Jan</Name></Person>")
    assert await ws.receive_from() == "<Ack><Name>Jan</Name><Emails>0</Emails></Ack>"
    await ws.disconnect()


async def test_person_xml_refuses_an_entity_bomb_without_expanding_it():
    # The "billion laughs": nine levels of entities that expand to ~3 GB.
    levels = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    bomb = f'<?xml version="1.0"?><!DOCTYPE lolz [{"".join(levels)}]><Person><Name>&lol9;</Name></Person>'
    ws = await connect("/ws/person/xml")
    started = time.monotonic()
    await ws.send_to(text_data=bomb)
    reply = await ws.receive_from()
    assert reply.startswith("<error><code>forbidden_xml</code>")
    assert time.monotonic() - started < 1.0, "the bomb must be refused, not expanded"
    await ws.send_to(text_data="<Person><Name>Jan</Name></Person>")
    assert "<Name>Jan</Name>" in await ws.receive_from()
    await ws.disconnect()


async def test_person_json_rejects_wrong_types():
    ws = await connect("/ws/person")
    await ws.send_json_to({"Name": "Jan", "Emails": "not-a-list"})
    assert (await ws.receive_json_from())["error"]["code"] == "invalid_type"
    await ws.disconnect()


async def test_read_only_and_text_only_sockets_say_so():
    ws = await connect("/ws/time")
    await ws.send_to(text_data="hello?")
    # The next frame may be a tick that was already on its way; the error follows.
    for _ in range(3):
        reply = json.loads(await ws.receive_from(timeout=2))
        if "error" in reply:
            break
    assert reply["error"]["code"] == "read_only"
    await ws.disconnect()

    ws = await connect("/ws/received")
    await ws.send_to(bytes_data=b"\x01\x02")
    assert (await ws.receive_json_from())["error"]["code"] == "text_only"
    await ws.disconnect()


async def test_a_message_over_the_limit_closes_with_1009(settings):
    settings.REALTIME_MAX_MESSAGE_BYTES = 1024
    ws = await connect("/ws/mouse")
    await ws.send_to(text_data='{"x": 1, "y": 2, "pad": "' + "a" * 2000 + '"}')
    assert await ws.receive_output() == {
        "type": "websocket.close",
        "code": 1009,
        "reason": "message larger than 1024 bytes",
    }


async def test_multibyte_text_is_measured_in_bytes(settings):
    settings.REALTIME_MAX_MESSAGE_BYTES = 1000
    ws = await connect("/ws/mouse")
    # 400 characters, 1,200 bytes of UTF-8: over the limit.
    await ws.send_to(text_data="€" * 400)
    closed = await ws.receive_output()
    assert (closed["type"], closed["code"]) == ("websocket.close", 1009)


async def test_a_foreign_origin_is_refused():
    ws = WebsocketCommunicator(application, "/ws/echo", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await ws.connect()
    assert not connected


async def test_an_allowed_origin_and_no_origin_are_accepted():
    # A page's own origin: what its browser sends to the Host it loaded it from.
    for headers in ([(b"origin", b"http://localhost:8000"), (b"host", b"localhost:8000")], []):
        ws = await connect("/ws/echo", headers=headers)
        await ws.send_to(text_data="ok")
        assert await ws.receive_from() == "ok"
        await ws.disconnect()


# -- Through a real Daphne ------------------------------------------------------


async def test_daphne_refuses_a_foreign_origin_at_the_handshake(daphne):
    server = daphne()
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(f"{server.ws_url}/ws/echo", origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    # ...while the page's own origin is welcome.
    async with websockets.connect(f"{server.ws_url}/ws/echo", origin=server.http_url) as ws:
        await ws.send("fine")
        assert await ws.recv() == "fine"


async def test_daphne_closes_an_oversize_message_with_1009(daphne):
    server = daphne()
    async with websockets.connect(f"{server.ws_url}/ws/mouse", max_size=None) as ws:
        await ws.send('{"x": 1, "y": 2, "pad": "' + "a" * (64 * 1024) + '"}')
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 1009
    assert "Traceback" not in server.output()


async def test_a_flooding_client_is_throttled_loses_nothing_and_slows_no_one(daphne):
    """A client blasts 1,000 messages at a socket limited to 200/s (burst 50):
    every message is still answered, in order, but only at the allowed rate,
    while a second client's round trips stay quick."""
    server = daphne(REALTIME_RATE_PER_SECOND=200, REALTIME_RATE_BURST=50)
    count = 1000
    async with (
        websockets.connect(f"{server.ws_url}/ws/echo") as flooder,
        websockets.connect(f"{server.ws_url}/ws/mouse") as neighbour,
    ):
        started = time.monotonic()

        async def flood():
            for n in range(count):
                await flooder.send(f"m{n}")

        async def collect():
            return [await flooder.recv() for _ in range(count)]

        sender = asyncio.ensure_future(flood())
        collector = asyncio.ensure_future(collect())
        round_trips = []
        while not collector.done():
            sent = time.monotonic()
            await neighbour.send('{"x": 3, "y": 4}')
            assert json.loads(await neighbour.recv()) == {"x": 3, "y": 4}
            round_trips.append(time.monotonic() - sent)
            await asyncio.sleep(0.05)
        echoes = await collector
        await sender
        elapsed = time.monotonic() - started

    assert echoes == [f"m{n}" for n in range(count)], "every flooded message is answered, in order"
    assert elapsed >= (count - 50) / 200 * 0.9, f"flood was not throttled ({elapsed:.2f}s)"
    assert len(round_trips) > 20
    assert max(round_trips) < 0.5, f"the neighbour was slowed: {max(round_trips):.3f}s"


async def test_an_unknown_socket_path_is_refused_cleanly(daphne):
    """A handshake on a path no socket serves gets HTTP 403, not a 500 with a
    traceback in the server log."""
    server = daphne()
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(f"{server.ws_url}/ws/no-such-socket"):
            pass
    assert refused.value.response.status_code == 403
    assert "Traceback" not in server.output()


async def test_the_1009_close_says_why(daphne):
    server = daphne()
    async with websockets.connect(f"{server.ws_url}/ws/mouse", max_size=None) as ws:
        await ws.send("x" * (64 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 1009
    assert "larger than 65536 bytes" in closed.value.rcvd.reason
