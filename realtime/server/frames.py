"""RFC 6455 frames as bytes: building and parsing, nothing else.

Pure functions of bytes, with no I/O and no state, shared by the server's
fast paths (the protocol only glues them to autobahn and the transport), the
load clients in `bench/` and the tests' raw-socket clients, so the frame
layout is written once. Unit-tested without a server
(tests/server/test_frames.py).
"""

import os
import struct
from collections.abc import Callable
from enum import IntEnum


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(IntEnum):
    """RFC 6455 section 7.4.1 (and the IANA registry's 1012-1014)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005  # never sent: a close frame without a code
    ABNORMAL = 1006  # never sent: no close frame, the TCP connection just ended
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014


# The short names the clients and tests use.
OP_CONTINUATION = Opcode.CONTINUATION
OP_TEXT = Opcode.TEXT
OP_BINARY = Opcode.BINARY
OP_CLOSE = Opcode.CLOSE
OP_PING = Opcode.PING
OP_PONG = Opcode.PONG

# Payloads at or under this size are unmasked through one big int, which is
# about 6x faster than a per-byte masker for small payloads and slower for
# large ones.
BIG_INT_MASK_LIMIT = 1024


def frame_header(opcode: int, length: int, *, fin: bool = True, rsv: int = 0, masked: bool = False) -> bytes:
    """The header of one frame: FIN/RSV/opcode, the MASK bit and the shortest
    length encoding. A masked frame's 4-byte key follows the header."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if masked else 0
    if length < 126:
        return struct.pack("!BB", first, mask_bit | length)
    if length < 1 << 16:
        return struct.pack("!BBH", first, mask_bit | 126, length)
    return struct.pack("!BBQ", first, mask_bit | 127, length)


def python_mask(payload: bytes, key: bytes) -> bytes:
    """XOR `payload` with the 4-byte `key` (RFC 6455 5.3); masking twice
    unmasks. Pure Python: the fallback for compiled_mask."""
    length = len(payload)
    if not length:
        return b""
    if length <= BIG_INT_MASK_LIMIT:
        repeated = (key * (length // 4 + 1))[:length]
        return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big")
    from autobahn.websocket.xormasker import create_xor_masker

    return bytes(create_xor_masker(key, length).process(payload))


Masker = Callable[[bytes, bytes], bytes]

compiled_mask: Masker | None
try:
    # The same XOR in C, from the websockets wheel (websockets is in the
    # locks): 5x faster than python_mask on a 64-byte message, 20x on 1 KiB.
    # The C part is optional in websockets' own build (a platform without
    # its wheel and without a compiler gets none), so python_mask stays.
    from websockets.speedups import apply_mask

    compiled_mask = apply_mask
except ImportError:
    compiled_mask = None

# What the parsers below call (a global, looked up per call, so that
# use_compiled_mask can switch it for the whole process).
mask: Masker = compiled_mask if compiled_mask is not None else python_mask


def use_compiled_mask(wanted: bool) -> str:
    """Unmask with compiled_mask when `wanted` and available, else with
    python_mask; returns which one is in use, in words."""
    global mask
    mask = compiled_mask if wanted and compiled_mask is not None else python_mask
    return "compiled (websockets.speedups)" if mask is compiled_mask else "pure Python"


def server_frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked server-to-client frame."""
    return frame_header(opcode, len(payload)) + payload


def client_frame(opcode: int, payload: bytes | str, key: bytes | None = None) -> bytes:
    """A final, masked client-to-server frame. `key` defaults to a random one,
    as RFC 6455 asks; b"\\0\\0\\0\\0" is a valid key that leaves the payload
    as it is (cheap in a tight loop)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    key = os.urandom(4) if key is None else key
    return frame_header(opcode, len(payload), masked=True) + key + mask(payload, key)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    """The body of a close frame: the 2-byte code, then the UTF-8 reason."""
    return struct.pack("!H", code) + reason


def close_code(payload: bytes) -> int:
    """The code in a close frame's body; 1005 (no status) when it has none."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else CloseCode.NO_STATUS


def parse_header(data: bytes, pos: int = 0) -> tuple[bool, int, int, bool, int, int] | None:
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


def server_payload_size(frame: bytes) -> int:
    """Payload length of a whole server (unmasked) frame."""
    length = frame[1] & 0x7F
    return length if length < 126 else len(frame) - (4 if length == 126 else 10)


# Plain ints for the loop below, which runs for every frame read.
_TEXT, _BINARY = int(Opcode.TEXT), int(Opcode.BINARY)
# The first byte of a final pong frame with RSV 0.
PONG_FIRST_BYTE = 0x80 | int(Opcode.PONG)
CONTROL_PAYLOAD_LIMIT = 125  # RFC 6455 5.5
SIMPLE_PAYLOAD_LIMIT = 1 << 16  # the 64-bit length form is never simple


def take_simple_frames(data: bytes, max_frame: int = 0, max_message: int = 0) -> tuple[list[str | bytes], int, int]:
    """The leading simple client frames of `data`: complete, final, masked,
    text or binary, RSV bits 0, minimally encoded, under 64 KiB, within
    `max_frame` and `max_message` bytes (0: no limit), and (text) valid UTF-8.

    Returns (their payloads unmasked, text as str and binary as bytes; the
    bytes of `data` they took; the payload bytes among those). Stops at the
    first frame that is anything else or incomplete: that one and what
    follows are for a general parser (which fails the bad ones).
    """
    size = len(data)
    pos = 0
    payload_bytes = 0
    messages: list[str | bytes] = []
    while size - pos >= 6:
        first = data[pos]
        second = data[pos + 1]
        opcode = first & 0x0F
        # FIN set, RSV 0, text or binary; MASK set.
        if first & 0xF0 != 0x80 or (opcode != _TEXT and opcode != _BINARY) or not second & 0x80:
            break
        length = second & 0x7F
        header = 6
        if length == 126:
            if size - pos < 8:
                break
            length = (data[pos + 2] << 8) | data[pos + 3]
            if length < 126:
                break  # not minimally encoded: a protocol error
            header = 8
        elif length == 127:
            break
        end = pos + header + length
        if end > size:
            break
        if 0 < max_frame < length or 0 < max_message < length:
            break
        payload = mask(data[end - length : end], data[end - length - 4 : end - length])
        if opcode == _TEXT:
            try:
                messages.append(payload.decode("utf-8"))
            except UnicodeDecodeError:
                break  # the general parser closes with 1007
        else:
            messages.append(payload)
        payload_bytes += length
        pos = end
    return messages, pos, payload_bytes


def take_pong(data: bytes) -> tuple[bytes, int] | None:
    """A complete client pong frame at the start of `data` (final, RSV 0,
    masked, at most 125 payload bytes): (its payload unmasked, the bytes it
    took). None for anything else or an incomplete frame: that is for a
    general parser (which fails the bad ones)."""
    if len(data) < 6 or data[0] != PONG_FIRST_BYTE:
        return None
    second = data[1]
    length = second & 0x7F
    if not second & 0x80 or length > CONTROL_PAYLOAD_LIMIT or len(data) < 6 + length:
        return None
    return mask(data[6 : 6 + length], data[2:6]), 6 + length
