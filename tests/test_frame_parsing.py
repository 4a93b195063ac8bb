"""realtime/server.py parses simple client frames itself (a fast path past
autobahn) and writes replies straight to the socket. These tests send raw
frames to /ws/echo on a real Daphne subprocess and check that what a client
sees is what autobahn alone gives: every message back in order and with its
type, however the bytes are split or batched, and the same close codes for
broken input (bad UTF-8 1007, protocol errors 1002)."""

import base64
import os
import socket
import struct
import time


def open_socket(port, path, timeout=10.0):
    """A bare TCP socket that has done the WebSocket opening handshake."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # byte by byte: leave any frame after it unread
        byte = sock.recv(1)
        assert byte, f"server closed during the handshake after {head!r}"
        head += byte
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock


def masked_frame(payload, opcode=0x1, fin=True, rsv=0, length_form=None, masked=True):
    """A client frame with a random mask key. `length_form` forces the 16-bit
    length field (126) for a short payload, which RFC 6455 forbids."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length_form == 126 or 125 < length < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    elif length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class FrameReader:
    """Reads server frames (unmasked) from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def read_exactly(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the TCP connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def frame(self):
        first, second = self.read_exactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self.read_exactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self.read_exactly(8))[0]
        return first & 0x0F, self.read_exactly(length)

    def until_close(self):
        """Read until the close frame; return (frames before it, close code)."""
        frames = []
        while True:
            opcode, payload = self.frame()
            if opcode == 0x8:
                return frames, (struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)
            frames.append((opcode, payload))

    def close_code(self):
        return self.until_close()[1]


def echo_socket(server):
    sock = open_socket(server.port, "/ws/echo")
    return sock, FrameReader(sock)


def test_many_frames_in_one_write_come_back_in_order_with_their_types(daphne):
    """A batch of text and binary frames in one TCP write, of sizes across the
    7-bit and 16-bit length forms and both unmasking paths (small and over
    1 KiB), empty ones included."""
    server = daphne()
    sock, reader = echo_socket(server)
    messages = [
        (0x1, b"hello"), (0x2, b"\x00\xffbinary"), (0x1, b""), (0x2, b""),
        (0x1, "caf\u00e9 \u2603 \U0001f600".encode()), (0x1, b"x" * 125), (0x2, b"y" * 126),
        (0x1, b"z" * 1024), (0x2, os.urandom(1025)), (0x1, b"w" * 40000),
    ]
    sock.sendall(b"".join(masked_frame(payload, opcode) for opcode, payload in messages))
    for opcode, payload in messages:
        assert reader.frame() == (opcode, payload)
    sock.close()


def test_frames_split_across_writes_come_back_whole(daphne):
    """The same frames dribbled one byte per write, then split mid-header and
    mid-payload across two writes with another frame glued on."""
    server = daphne()
    sock, reader = echo_socket(server)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    frame = masked_frame(b"one byte at a time", 0x1)
    for byte in frame:
        sock.send(bytes([byte]))
        time.sleep(0.001)
    assert reader.frame() == (0x1, b"one byte at a time")
    data = masked_frame(b"A" * 300, 0x2) + masked_frame(b"second", 0x1)
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
        masked_frame(b"frag", 0x1, fin=False)
        + masked_frame(b"men", 0x0, fin=False)
        + masked_frame(b"ping!", 0x9)
        + masked_frame(b"ted", 0x0, fin=True)
        + masked_frame(b"after", 0x1)
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
    sock.sendall(masked_frame(b"good", 0x1) + masked_frame(b"also good", 0x1) + masked_frame(b"bad \x80", 0x1))
    echoed, code = reader.until_close()
    assert code == 1007
    assert echoed == [(0x1, b"good"), (0x1, b"also good")][: len(echoed)]
    sock.close()


def test_invalid_utf8_alone_closes_with_1007(daphne):
    """A socket whose first message is invalid UTF-8 (ED A0 80 encodes a
    UTF-16 surrogate, which UTF-8 forbids): 1007 and nothing echoed."""
    server = daphne()
    sock, reader = echo_socket(server)
    sock.sendall(masked_frame(b"\xed\xa0\x80", 0x1))
    assert reader.until_close() == ([], 1007)
    sock.close()


def test_protocol_errors_close_with_1002(daphne):
    """A length not in its shortest form, an unmasked client frame, an RSV
    bit with no extension negotiated, and an unknown opcode: each is a
    protocol error (1002), as autobahn answers it."""
    server = daphne()
    broken = {
        "16-bit length for 5 bytes": masked_frame(b"short", 0x1, length_form=126),
        "unmasked frame": masked_frame(b"plain", 0x1, masked=False),
        "RSV1 without permessage-deflate": masked_frame(b"rsv", 0x1, rsv=4),
        "reserved opcode 3": masked_frame(b"op", 0x3),
    }
    for what, frame in broken.items():
        sock, reader = echo_socket(server)
        sock.sendall(masked_frame(b"fine", 0x1))
        assert reader.frame() == (0x1, b"fine"), what
        sock.sendall(frame)
        assert reader.until_close() == ([], 1002), what
        sock.close()
