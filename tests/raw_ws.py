"""A WebSocket client on a bare socket, for tests that must misbehave in ways
no client library allows: never read, or open thousands of connections from
one thread. Only what those tests need: the opening handshake and masked
client frames."""

import base64
import os
import socket
import struct


def handshake_request(port, path):
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        f"Origin: http://127.0.0.1:{port}\r\n"
        "\r\n"
    ).encode()


def read_handshake_response(sock):
    """Read exactly the HTTP response head (byte by byte, so no frame that
    follows it is consumed) and return its status line."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError(f"server closed during the handshake after {head!r}")
        head += byte
    return head.split(b"\r\n", 1)[0].decode()


def open_socket(port, path, receive_buffer=None, timeout=10.0):
    """A connected, upgraded socket. `receive_buffer` shrinks SO_RCVBUF
    (before connecting, so the TCP window is small from the start)."""
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    sock.sendall(handshake_request(port, path))
    status = read_handshake_response(sock)
    if " 101 " not in status + " ":
        sock.close()
        raise ConnectionError(f"handshake refused: {status}")
    return sock


def client_frame(payload, opcode=0x2):
    """A final client frame. Clients must mask; a zero mask key is a valid
    key and leaves the payload as it is (cheap to build in a tight loop)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return header + b"\x00\x00\x00\x00" + payload
