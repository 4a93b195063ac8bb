"""A WebSocket client on a bare socket, for tests that must misbehave in ways
no client library allows: never read, open thousands of connections from one
thread, never answer a ping, or send frames that break RFC 6455 on purpose.

Well-formed frames are built and parsed by `realtime.server.frames`, as the
server does; `malformed_frame` is the one place that writes frames the
server must refuse."""

import base64
import os
import socket
import struct

from realtime.server.frames import OP_CLOSE, OP_TEXT, close_code, frame_header, mask, parse_header


def handshake_request(port, path, origin=True, headers=()):
    """The opening handshake; `headers` adds (name, value) lines as given,
    e.g. any Sec-WebSocket-Extensions offer."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        + (f"Origin: http://127.0.0.1:{port}\r\n" if origin else "")
        + "".join(f"{name}: {value}\r\n" for name, value in headers)
        + "\r\n"
    ).encode("latin-1")


def read_handshake_head(sock):
    """Read exactly the HTTP response head (byte by byte, so no frame that
    follows it is consumed); return its status line and its headers by
    lower-case name."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError(f"server closed during the handshake after {head!r}")
        head += byte
    status, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def read_handshake_response(sock):
    """The status line of the response head (see read_handshake_head)."""
    return read_handshake_head(sock)[0]


def open_socket(port, path, receive_buffer=None, timeout=10.0, origin=True):
    """A connected, upgraded socket. `receive_buffer` shrinks SO_RCVBUF
    (before connecting, so the TCP window is small from the start);
    `origin=False` sends no Origin header, as a non-browser client may."""
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    sock.sendall(handshake_request(port, path, origin))
    status = read_handshake_response(sock)
    if " 101 " not in status + " ":
        sock.close()
        raise ConnectionError(f"handshake refused: {status}")
    return sock


class FrameReader:
    """Reads server frames (unmasked) from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the TCP connection")
        self.buffer += chunk

    def frame(self):
        """(opcode, payload) of the next frame."""
        while (header := parse_header(self.buffer)) is None:
            self.fill()
        _, _, opcode, _, length, size = header
        while len(self.buffer) < size + length:
            self.fill()
        payload, self.buffer = self.buffer[size : size + length], self.buffer[size + length :]
        return opcode, payload

    def complete_frames(self):
        """[(opcode, payload)] of the frames wholly in the buffer, taken out
        of it; what a select()-driven client handles after fill()."""
        frames = []
        while (header := parse_header(self.buffer)) is not None:
            _, _, opcode, _, length, size = header
            if len(self.buffer) < size + length:
                break
            frames.append((opcode, self.buffer[size : size + length]))
            self.buffer = self.buffer[size + length :]
        return frames

    def until_close(self):
        """Read until the close frame; return (frames before it, close code,
        None when the close frame has no code)."""
        frames = []
        while True:
            opcode, payload = self.frame()
            if opcode == OP_CLOSE:
                return frames, (close_code(payload) if len(payload) >= 2 else None)
            frames.append((opcode, payload))

    def close_code(self):
        return self.until_close()[1]


def malformed_frame(payload, opcode=OP_TEXT, fin=True, rsv=0, length_form=None, masked=True):
    """A client frame with a random mask key, free to break the rules:
    `length_form=126` forces the 16-bit length field for a short payload
    (RFC 6455 asks for the shortest form), `masked=False` leaves it unmasked,
    `rsv` sets reserved bits, any `opcode` goes."""
    length = len(payload)
    if length_form == 126 and length < 126:
        first = (0x80 if fin else 0) | (rsv << 4) | opcode
        header = struct.pack("!BBH", first, (0x80 if masked else 0) | 126, length)
    else:
        header = frame_header(opcode, length, fin=fin, rsv=rsv, masked=masked)
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + mask(payload, key)
