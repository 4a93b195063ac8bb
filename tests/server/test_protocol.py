"""The WebSocket protocol layer beyond stock Daphne (realtime/server.py), on a
real Daphne subprocess: empty messages, close 1009 on an oversize message,
permessage-deflate (and its decompression bound), and ping/pong keepalive.
The whole Autobahn TestSuite runs separately (`make conformance`)."""

import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from realtime.server.frames import parse_header
from tests.support.raw_ws import open_socket

KIB = 1024


def closed_code(websocket, timeout=5.0):
    """Wait for the server to close; return the close code it sent."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            websocket.recv(timeout=timeout)
    return closed.value.rcvd.code if closed.value.rcvd else None


def test_empty_text_and_binary_messages_come_back(daphne):
    """Stock Daphne drops empty messages, leaving an echo client waiting."""
    server = daphne()
    with connect(f"{server.ws_url}/ws/echo") as ws:
        ws.send("")
        assert ws.recv(timeout=3) == ""
        ws.send(b"")
        assert ws.recv(timeout=3) == b""
        ws.send("after")  # and the socket carries on
        assert ws.recv(timeout=3) == "after"


def test_oversize_message_closes_with_1009_not_a_dropped_connection(daphne):
    """Tried: a 4 KiB message against a 1 KiB server limit. Stock Daphne drops
    TCP (the client sees 1006); ours runs the closing handshake with 1009, and
    the next client is served as usual."""
    server = daphne(extra_args=("--websocket-max-message-size", str(KIB)))
    with connect(f"{server.ws_url}/ws/echo", compression=None) as ws:
        ws.send("x" * KIB)  # exactly at the limit: fine
        assert ws.recv(timeout=3) == "x" * KIB
        ws.send("x" * (4 * KIB))
        assert closed_code(ws) == 1009
    with connect(f"{server.ws_url}/ws/echo") as ws:
        ws.send("still serving")
        assert ws.recv(timeout=3) == "still serving"


def test_permessage_deflate_is_negotiated_and_round_trips(daphne):
    server = daphne()
    with connect(f"{server.ws_url}/ws/echo", compression="deflate") as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert "permessage-deflate" in extensions
        # Large, compressible, text and binary, several in a row (context takeover).
        for n in range(3):
            text = f"message {n} " + "abcdefgh" * 8000
            ws.send(text)
            assert ws.recv(timeout=5) == text
            blob = bytes(range(256)) * 200 + bytes([n])
            ws.send(blob)
            assert ws.recv(timeout=5) == blob
        ws.send("")
        assert ws.recv(timeout=3) == ""


def test_permessage_deflate_can_be_switched_off(daphne):
    server = daphne(REALTIME_PERMESSAGE_DEFLATE="0")
    with connect(f"{server.ws_url}/ws/echo", compression="deflate") as ws:
        assert "permessage-deflate" not in ws.response.headers.get("Sec-WebSocket-Extensions", "")
        ws.send("plain")
        assert ws.recv(timeout=3) == "plain"


def test_compressed_message_is_bounded_after_decompression(daphne):
    """Tried: a "zip bomb": 8 MiB of zeros compresses to ~8 KiB on the wire,
    far below the 64 KiB limit; inflated it is 128 times over it. The server
    must close with 1009 (not inflate it all, not pass it on), and stay up."""
    server = daphne(extra_args=("--websocket-max-message-size", str(64 * KIB)))
    with connect(f"{server.ws_url}/ws/echo", compression="deflate") as ws:
        assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
        ws.send(b"\0" * (8 * 1024 * KIB))
        assert closed_code(ws) == 1009
    with connect(f"{server.ws_url}/ws/echo", compression="deflate") as ws:
        ws.send("next client")
        assert ws.recv(timeout=3) == "next client"


# -- keepalive ----------------------------------------------------------------


def read_until_closed(sock, deadline):
    """Read frames without ever replying; return (opcodes seen, seconds until
    the server dropped the connection or None if it never did)."""
    started = time.monotonic()
    data, opcodes = b"", []
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        while (header := parse_header(data)) is not None:
            _, _, opcode, _, length, size = header
            if len(data) < size + length:
                break
            opcodes.append(opcode)
            data = data[size + length :]
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return opcodes, time.monotonic() - started
        if not chunk:
            return opcodes, time.monotonic() - started
        data += chunk
    return opcodes, None


def test_client_that_stops_answering_pings_is_dropped_in_the_configured_time(daphne):
    """Tried: a client that connects and then goes silent, with --ping-interval 1
    and --ping-timeout 1. The server pings it and, with no pong, drops it
    within interval + timeout + Daphne's 2 s check period. A client that answers
    pings (websockets does) stays connected over the same time."""
    server = daphne(extra_args=("--ping-interval", "1", "--ping-timeout", "1"))
    with connect(f"{server.ws_url}/ws/echo") as alive:
        # A client that completes the handshake and then never answers
        # anything (a vanished laptop, a dead NAT entry).
        silent = open_socket(server.port, "/ws/echo", timeout=5, origin=False)
        try:
            opcodes, dropped_after = read_until_closed(silent, time.monotonic() + 10)
        finally:
            silent.close()
        assert 0x9 in opcodes, f"the server never pinged the silent client (frames: {opcodes})"
        assert dropped_after is not None, "a client that never answers pings was not dropped within 10 s"
        assert dropped_after <= 6.0, dropped_after
        # The answering client lived through the same seconds.
        alive.send("still here")
        assert alive.recv(timeout=3) == "still here"


def test_pipelined_large_and_small_replies_arrive_whole_and_in_order(daphne):
    """Tried: 24 messages sent without waiting, large (200 KiB) and small in
    turn, so replies meet a socket whose kernel buffer is full and queue
    behind a partial write; every echo must come back whole, in order."""
    server = daphne()
    messages = [(f"{index:03d}" * (200 * KIB // 3)) if index % 3 == 0 else f"small {index}" for index in range(24)]
    with connect(f"{server.ws_url}/ws/echo", max_size=None, compression=None) as ws:
        for message in messages:
            ws.send(message)
        received = [ws.recv(timeout=10) for _ in messages]
    assert [len(text) for text in received] == [len(text) for text in messages]
    assert received == messages
