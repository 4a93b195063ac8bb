"""RFC 6455 frames as bytes: building and parsing, nothing else.

Pure functions with no I/O, shared by the server's fast paths
(`realtime.server.protocol`), the load clients in `bench/` and the tests'
raw-socket clients, so the frame layout is written once.
"""

import os
import struct

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

# Payloads at or under this size are unmasked through one big int, which is
# about 6x faster than a per-byte masker for small payloads and slower for
# large ones.
BIG_INT_MASK_LIMIT = 1024


def frame_header(opcode, length, *, fin=True, rsv=0, masked=False):
    """The header of one frame: FIN/RSV/opcode, the MASK bit and the shortest
    length encoding. A masked frame's 4-byte key follows the header."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if masked else 0
    if length < 126:
        return struct.pack("!BB", first, mask_bit | length)
    if length < 1 << 16:
        return struct.pack("!BBH", first, mask_bit | 126, length)
    return struct.pack("!BBQ", first, mask_bit | 127, length)


def mask(payload, key):
    """XOR `payload` with the 4-byte `key` (RFC 6455 5.3); masking twice unmasks."""
    length = len(payload)
    if not length:
        return b""
    if length <= BIG_INT_MASK_LIMIT:
        repeated = (key * (length // 4 + 1))[:length]
        return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big")
    from autobahn.websocket.xormasker import create_xor_masker

    return create_xor_masker(key, length).process(payload)


def server_frame(opcode, payload):
    """A final, unmasked server-to-client frame."""
    return frame_header(opcode, len(payload)) + payload


def client_frame(opcode, payload, key=None):
    """A final, masked client-to-server frame. `key` defaults to a random one,
    as RFC 6455 asks; b"\\0\\0\\0\\0" is a valid key that leaves the payload
    as it is (cheap in a tight loop)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    key = os.urandom(4) if key is None else key
    return frame_header(opcode, len(payload), masked=True) + key + mask(payload, key)


def close_payload(code, reason=b""):
    """The body of a close frame: the 2-byte code, then the UTF-8 reason."""
    return struct.pack("!H", code) + reason


def close_code(payload):
    """The code in a close frame's body; 1005 (no status) when it has none."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


def parse_header(data, pos=0):
    """Parse the frame header at `data[pos:]`.

    Returns (fin, rsv, opcode, masked, length, header_size), where
    header_size counts the mask key, or None while the header is incomplete.
    """
    available = len(data) - pos
    if available < 2:
        return None
    first, second = data[pos], data[pos + 1]
    length = second & 0x7F
    size = 2
    if length == 126:
        if available < 4:
            return None
        length = (data[pos + 2] << 8) | data[pos + 3]
        size = 4
    elif length == 127:
        if available < 10:
            return None
        length = struct.unpack_from("!Q", data, pos + 2)[0]
        size = 10
    masked = bool(second & 0x80)
    if masked:
        size += 4
    if available < size:
        return None
    return bool(first & 0x80), (first >> 4) & 0x7, first & 0x0F, masked, length, size
