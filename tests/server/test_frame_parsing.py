"""realtime/server.py parses simple client frames itself (a fast path past
autobahn) and writes replies straight to the socket. These tests send raw
frames to /ws/echo on a real Daphne subprocess and check that what a client
sees is what autobahn alone gives: every message back in order and with its
type, however the bytes are split or batched, and the same close codes for
broken input (bad UTF-8 1007, protocol errors 1002)."""

import os
import socket
import time

import pytest

from realtime.server.frames import client_frame
from tests.support.raw_ws import FrameReader, malformed_frame, open_socket


def echo_socket(server):
    sock = open_socket(server.port, "/ws/echo", origin=False)
    return sock, FrameReader(sock)


@pytest.mark.parametrize("compiled", ["True", "False"])
def test_many_frames_in_one_write_come_back_in_order_with_their_types(daphne, compiled):
    """A batch of text and binary frames in one TCP write, each with its own
    random mask key, of sizes across the 7-bit and 16-bit length forms and
    the pure-Python unmasking's two paths (small and over 1 KiB), empty ones
    included; with the compiled unmasking (the default) and with the
    pure-Python fallback (REALTIME_COMPILED_MASK=False), which the server
    says at start."""
    server = daphne(REALTIME_COMPILED_MASK=compiled)
    expected = "compiled (websockets.speedups)" if compiled == "True" else "pure Python"
    assert f"unmasking client frames: {expected}" in server.output()
    sock, reader = echo_socket(server)
    messages = [
        (0x1, b"hello"),
        (0x2, b"\x00\xffbinary"),
        (0x1, b""),
        (0x2, b""),
        (0x1, "caf\u00e9 \u2603 \U0001f600".encode()),
        (0x1, b"x" * 125),
        (0x2, b"y" * 126),
        (0x1, b"z" * 1024),
        (0x2, os.urandom(1025)),
        (0x1, b"w" * 40000),
    ]
    sock.sendall(b"".join(client_frame(opcode, payload) for opcode, payload in messages))
    for opcode, payload in messages:
        assert reader.frame() == (opcode, payload)
    sock.close()


def test_frames_split_across_writes_come_back_whole(daphne):
    """The same frames dribbled one byte per write, then split mid-header and
    mid-payload across two writes with another frame glued on."""
    server = daphne()
    sock, reader = echo_socket(server)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    frame = client_frame(0x1, b"one byte at a time")
    for byte in frame:
        sock.send(bytes([byte]))
        time.sleep(0.001)
    assert reader.frame() == (0x1, b"one byte at a time")
    data = client_frame(0x2, b"A" * 300) + client_frame(0x1, b"second")
    sock.send(data[:3])  # inside the 16-bit length field
    time.sleep(0.05)
    sock.send(data[3:200])  # inside the payload
    time.sleep(0.05)
    sock.send(data[200:])
    assert reader.frame() == (0x2, b"A" * 300)
    assert reader.frame() == (0x1, b"second")
    sock.close()


def test_fragmented_message_with_a_ping_inside_is_one_message_and_a_pong(daphne):
    """A text message in three fragments with a ping between them (RFC 6455
    allows control frames inside a fragmented message), then a plain frame."""
    server = daphne()
    sock, reader = echo_socket(server)
    sock.sendall(
        malformed_frame(b"frag", 0x1, fin=False)
        + malformed_frame(b"men", 0x0, fin=False)
        + client_frame(0x9, b"ping!")
        + malformed_frame(b"ted", 0x0, fin=True)
        + client_frame(0x1, b"after")
    )
    assert reader.frame() == (0xA, b"ping!")
    assert reader.frame() == (0x1, b"fragmented")
    assert reader.frame() == (0x1, b"after")
    sock.close()


def test_invalid_utf8_closes_with_1007_and_nothing_bad_is_echoed(daphne):
    """Two good frames and one with bytes that are not UTF-8 (a lone
    continuation byte) in one write: 1007. The close is sent as soon as the
    bad frame is parsed, so echoes of the good ones may or may not make it
    out first (as with autobahn alone); those that do are the good ones, in
    order, and the bad payload never is."""
    server = daphne()
    sock, reader = echo_socket(server)
    sock.sendall(client_frame(0x1, b"good") + client_frame(0x1, b"also good") + client_frame(0x1, b"bad \x80"))
    echoed, code = reader.until_close()
    assert code == 1007
    assert echoed == [(0x1, b"good"), (0x1, b"also good")][: len(echoed)]
    sock.close()


def test_invalid_utf8_alone_closes_with_1007(daphne):
    """A socket whose first message is invalid UTF-8 (ED A0 80 encodes a
    UTF-16 surrogate, which UTF-8 forbids): 1007 and nothing echoed."""
    server = daphne()
    sock, reader = echo_socket(server)
    sock.sendall(client_frame(0x1, b"\xed\xa0\x80"))
    assert reader.until_close() == ([], 1007)
    sock.close()


def test_protocol_errors_close_with_1002(daphne):
    """A length not in its shortest form, an unmasked client frame, an RSV
    bit with no extension negotiated, and an unknown opcode: each is a
    protocol error (1002), as autobahn answers it."""
    server = daphne()
    broken = {
        "16-bit length for 5 bytes": malformed_frame(b"short", 0x1, length_form=126),
        "unmasked frame": malformed_frame(b"plain", 0x1, masked=False),
        "RSV1 without permessage-deflate": malformed_frame(b"rsv", 0x1, rsv=4),
        "reserved opcode 3": malformed_frame(b"op", 0x3),
    }
    for what, frame in broken.items():
        sock, reader = echo_socket(server)
        sock.sendall(client_frame(0x1, b"fine"))
        assert reader.frame() == (0x1, b"fine"), what
        sock.sendall(frame)
        assert reader.until_close() == ([], 1002), what
        sock.close()


def test_good_frames_before_a_bad_one_are_answered_before_the_close(daphne):
    """Strict, as the Autobahn TestSuite's cases 3.2-3.4, 4.1.3-4.2.5 and
    5.15 ask: good messages, then a bad frame and a ping, in one TCP write.
    Every good message is echoed, in order, and only then comes the close
    with 1002; nothing after the bad frame (the ping) is answered."""
    server = daphne()
    bad_frames = {
        "RSV 2 on a text frame": malformed_frame(b"rsv", 0x1, rsv=2),
        "reserved opcode 5": malformed_frame(b"op", 0x5),
        "reserved control opcode 11": malformed_frame(b"op", 0xB),
        "continuation after the message ended": malformed_frame(b"late", 0x0, fin=True),
    }
    for what, bad in bad_frames.items():
        sock, reader = echo_socket(server)
        good = [f"good {n}".encode() for n in range(5)]
        sock.sendall(b"".join(client_frame(0x1, payload) for payload in good) + bad + client_frame(0x9, b"ping"))
        assert reader.until_close() == ([(0x1, payload) for payload in good], 1002), what
        sock.close()
