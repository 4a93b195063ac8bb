"""Hostile JSON on the JSON sockets of a real server: input that makes
Python's decoder give up with something other than a JSONDecodeError (deep
nesting: RecursionError; an integer of thousands of digits: ValueError from
the int-digit limit). Each must get a client error frame, keep the socket
open, and leave at most one short line in the server's log, never a
traceback, even when sent hundreds of times in a row."""

import asyncio
import json
import uuid

import pytest
import websockets

HOSTILE = {
    "30,000 open brackets": "[" * 30000,
    "12,000 nested objects": '{"a":' * 12000,
    "nesting closed properly, 30,000 deep": "[" * 30000 + "]" * 30000,
    "a 5,000-digit integer": "1" * 5000,
    "a 5,000-digit integer in a field": '{"x": ' + "9" * 5000 + ', "y": 1}',
    "a negative 5,000-digit integer in a field": '{"action": "history", "before": -' + "7" * 5000 + "}",
}

FLOOD = 300


def socket_paths():
    room = f"hostile-{uuid.uuid4().hex[:8]}"
    return {
        "/ws/mouse": '{"x": 1, "y": 2}',
        f"/ws/chat/{room}/": '{"action": "history", "before": 1}',
        "/ws/person": '{"Name": "Jan"}',
    }


async def next_reply(ws):
    """The next frame that is not a chat presence update."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame.get("type") != "presence":
            return frame


async def flood(ws, payload):
    for _ in range(FLOOD):
        await ws.send(payload)


async def open_socket(server, path):
    ws = await websockets.connect(f"{server.ws_url}{path}", max_size=None, open_timeout=10)
    if "/ws/chat/" in path:
        assert (await next_reply(ws))["type"] == "joined"
    return ws


@pytest.mark.parametrize("path_index", [0, 1, 2], ids=["mouse", "chat", "person"])
async def test_hostile_json_gets_an_error_frame_and_no_traceback(daphne, path_index):
    """Tried: each hostile payload once on /ws/mouse, the chat socket and
    /ws/person; then a valid message on the same socket."""
    server = daphne()
    path, valid = list(socket_paths().items())[path_index]
    ws = await open_socket(server, path)
    try:
        for name, payload in HOSTILE.items():
            await ws.send(payload)
            reply = await next_reply(ws)
            assert "error" in reply, f"{name}: expected an error frame, got {str(reply)[:200]}"
            assert reply["error"]["code"] == "invalid_json", f"{name}: {reply}"
            assert len(reply["error"]["message"]) < 100
        # The socket still serves its purpose.
        await ws.send(valid)
        reply = await next_reply(ws)
        assert "error" not in reply, reply
    finally:
        await ws.close()
    log = server.output()
    assert "Traceback" not in log, log[-3000:]
    assert "internal_error" not in log and "error handling a message" not in log, log[-3000:]


async def test_a_flood_of_hostile_json_leaves_at_most_one_short_log_line_each(daphne):
    """Tried: 300 messages of 30,000 open brackets and 300 5,000-digit
    integers as fast as the socket takes them, on /ws/mouse and on the chat
    socket. Every one is answered with an invalid_json error frame; the
    server's log grows by at most one short line per message and holds no
    traceback."""
    server = daphne()
    paths = list(socket_paths())[:2]
    sockets = [await open_socket(server, path) for path in paths]
    await asyncio.sleep(0.5)
    log_before = server.output().splitlines()
    try:
        for ws in sockets:
            for payload in ("[" * 30000, "1" * 5000):
                sender = asyncio.ensure_future(flood(ws, payload))
                codes = [(await next_reply(ws)).get("error", {}).get("code") for _ in range(FLOOD)]
                await sender
                assert codes == ["invalid_json"] * FLOOD, set(codes)
    finally:
        for ws in sockets:
            await ws.close()
    await asyncio.sleep(0.5)
    new_lines = server.output().splitlines()[len(log_before) :]
    assert len(new_lines) <= 2 * 2 * FLOOD, f"{len(new_lines)} log lines for {4 * FLOOD} messages"
    assert all(len(line) < 300 for line in new_lines), max(new_lines, key=len)[:500]
    assert not any("Traceback" in line for line in new_lines), "\n".join(new_lines[:50])
