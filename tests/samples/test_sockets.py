"""Each socket's wire protocol through Channels' WebsocketCommunicator, with the
project's real ASGI application (origin check, auth stack, URL router)."""

import asyncio
import calendar
import json
import logging
import time
from datetime import datetime

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application


async def connect(path, headers=None, subprotocols=None):
    communicator = WebsocketCommunicator(application, path, headers=headers, subprotocols=subprotocols)
    connected, subprotocol = await communicator.connect()
    assert connected, f"{path} refused the connection"
    communicator.subprotocol = subprotocol
    return communicator


async def test_echo_returns_text_as_text_and_binary_as_binary():
    ws = await connect("/ws/echo")
    await ws.send_to(text_data="hello")
    assert await ws.receive_output() == {"type": "websocket.send", "text": "hello"}
    await ws.send_to(bytes_data=b"\x00\xffbinary")
    assert await ws.receive_output() == {"type": "websocket.send", "bytes": b"\x00\xffbinary"}
    await ws.disconnect()


async def test_echo_returns_empty_messages():
    ws = await connect("/ws/echo")
    # (send_to refuses empty data, so the frames go in as raw ASGI messages)
    await ws.send_input({"type": "websocket.receive", "text": ""})
    assert await ws.receive_output() == {"type": "websocket.send", "text": ""}
    await ws.send_input({"type": "websocket.receive", "bytes": b""})
    assert await ws.receive_output() == {"type": "websocket.send", "bytes": b""}
    await ws.disconnect()


@pytest.mark.parametrize("path", ["/ws/mouse", "/wsecho"])
async def test_mouse_event_comes_back_as_the_same_object(path):
    ws = await connect(path)
    await ws.send_json_to({"x": 12, "y": 345})
    assert await ws.receive_json_from() == {"x": 12, "y": 345}
    await ws.disconnect()


async def test_received_prefixes_each_message():
    ws = await connect("/ws/received")
    for text in ["Hello, world!", "second", ""]:
        await ws.send_input({"type": "websocket.receive", "text": text})
        assert await ws.receive_from() == f"Received: {text}"
    await ws.disconnect()


async def test_hello_sends_ten_greetings_then_closes_normally():
    ws = await connect("/ws/hello")
    greetings = []
    for _ in range(10):
        greeting = await ws.receive_from()
        greetings.append(greeting)
        await ws.send_to(text_data=greeting)  # the Go client returns each message
    assert greetings == [f"Hello {n}" for n in range(10)]
    closed = await ws.receive_output()
    assert (closed["type"], closed["code"]) == ("websocket.close", 1000)


async def test_person_json_is_logged_like_the_go_server_and_acknowledged(caplog):
    caplog.set_level(logging.INFO, logger="realtime.person")
    ws = await connect("/ws/person")
    await ws.send_json_to({"Name": "Jan", "Emails": ["ja@newmarch.name", "jan.newmarch@gmail.com"]})
    assert await ws.receive_json_from() == {"Name": "Jan", "Emails": 2}
    lines = [r.getMessage() for r in caplog.records if r.name == "realtime.person"]
    assert lines == ["Name: Jan; 2 emails: ja@newmarch.name, jan.newmarch@gmail.com"]
    await ws.disconnect()


async def test_person_xml_socket_speaks_go_encoding_xml():
    ws = await connect("/ws/person/xml")
    await ws.send_to(text_data="<Person><Name>Jan</Name><Emails>ja@newmarch.name</Emails></Person>")
    assert await ws.receive_from() == "<Ack><Name>Jan</Name><Emails>1</Emails></Ack>"
    await ws.disconnect()


async def test_person_negotiates_the_codec_by_subprotocol():
    ws = await connect("/ws/person", subprotocols=["xml"])
    assert ws.subprotocol == "xml"
    await ws.send_to(text_data="<Person><Name>Ann</Name></Person>")
    assert await ws.receive_from() == "<Ack><Name>Ann</Name><Emails>0</Emails></Ack>"
    await ws.disconnect()

    ws = await connect("/ws/person", subprotocols=["json"])
    assert ws.subprotocol == "json"
    await ws.send_json_to({"Name": "Bob", "Emails": []})
    assert await ws.receive_json_from() == {"Name": "Bob", "Emails": 0}
    await ws.disconnect()


async def test_time_pushes_json_ticks_on_the_wall_clock_second():
    ws = await connect("/ws/time")
    first = json.loads(await ws.receive_from(timeout=2.5))
    second = json.loads(await ws.receive_from(timeout=2.5))
    assert second["seq"] == first["seq"] + 1
    for tick in (first, second):
        published = datetime.strptime(tick["iso"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        assert abs(published - tick["seq"]) < 0.25, "a tick is published on its wall-clock second"
        assert tick["time"] == time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(tick["seq"]))
    await ws.disconnect()


async def test_go_time_socket_sends_only_the_rfc1123_text():
    ws = await connect("/wstime")
    text = await ws.receive_from(timeout=2.5)
    assert not text.startswith("{")
    sent_at = calendar.timegm(time.strptime(text, "%a, %d %b %Y %H:%M:%S UTC"))
    assert abs(sent_at - time.time()) < 2
    await ws.disconnect()


async def test_every_time_socket_of_a_process_gets_the_same_tick():
    sockets = [await connect("/ws/time") for _ in range(5)]
    go_socket = await connect("/wstime")
    ticks = [json.loads(await ws.receive_from(timeout=2.5)) for ws in sockets]
    go_text = await go_socket.receive_from(timeout=2.5)
    assert len({tick["seq"] for tick in ticks}) == 1
    assert go_text == ticks[0]["time"]
    for ws in [*sockets, go_socket]:
        await ws.disconnect()


async def test_a_disconnected_time_socket_leaves_its_group():
    from realtime.consumer_kit.hub import get_hub

    ws = await connect("/ws/time")
    await ws.receive_from(timeout=2.5)
    await ws.disconnect()
    await asyncio.sleep(0.05)
    assert get_hub().members.get("time", set()) == set()
