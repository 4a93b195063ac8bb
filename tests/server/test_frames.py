"""realtime/server/frames.py on its own: frames as bytes in, values out, no
server. The wire results a client sees are in test_frame_parsing.py."""

import os

import pytest

from realtime.server import frames
from realtime.server.frames import (
    CloseCode,
    Opcode,
    client_frame,
    close_code,
    close_payload,
    frame_header,
    mask,
    parse_header,
    server_frame,
    server_payload_size,
    take_pong,
    take_simple_frames,
)

KEY = b"\x01\x02\x03\x04"
NO_COMPILED_MASK = "websockets.speedups is not importable: `make test` installs websockets from the locks"


@pytest.fixture(autouse=True, params=["compiled", "pure Python"])
def unmasking(request):
    """Every test here runs with each unmasking the parsers may use: the C
    one of the websockets wheel and the pure-Python fallback."""
    if request.param == "compiled" and frames.compiled_mask is None:
        pytest.fail(NO_COMPILED_MASK)
    in_use = frames.use_compiled_mask(request.param == "compiled")
    assert in_use.startswith(request.param)
    yield request.param
    frames.use_compiled_mask(True)


def test_both_unmaskings_agree_on_every_length_and_key():
    """Tried: payloads of 0 to 300 bytes and around the 1 KiB and 64 KiB
    boundaries, each with three random keys and an all-zero one."""
    if frames.compiled_mask is None:
        pytest.fail(NO_COMPILED_MASK)
    sizes = [*range(301), 1023, 1024, 1025, 65535, 65536, 70000]
    for size in sizes:
        payload = os.urandom(size)
        for key in (os.urandom(4), os.urandom(4), os.urandom(4), b"\0\0\0\0"):
            expected = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
            assert frames.python_mask(payload, key) == expected, (size, key)
            assert frames.compiled_mask(payload, key) == expected, (size, key)


def test_opcodes_and_close_codes_are_rfc_6455s():
    assert [int(op) for op in Opcode] == [0x0, 0x1, 0x2, 0x8, 0x9, 0xA]
    assert CloseCode.GOING_AWAY == 1001 and CloseCode.POLICY_VIOLATION == 1008 and CloseCode.TOO_BIG == 1009
    assert CloseCode(1007) is CloseCode.INVALID_PAYLOAD


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_frame_header_uses_the_shortest_length_form(length, header):
    assert frame_header(Opcode.TEXT, length) == header
    assert parse_header(header + b"\x00" * length) == (True, 0, Opcode.TEXT, False, length, len(header))


def test_parse_header_waits_for_a_whole_header_and_reads_flags():
    frame = frame_header(Opcode.BINARY, 300, fin=False, rsv=4, masked=True) + KEY
    assert parse_header(frame[:3]) is None  # inside the 16-bit length
    assert parse_header(frame[:7]) is None  # inside the mask key
    assert parse_header(frame) == (False, 4, Opcode.BINARY, True, 300, 8)


@pytest.mark.parametrize("size", [0, 1, 5, 1024, 1025, 70000])
def test_masking_twice_gives_the_payload_back_on_both_paths(size):
    payload = os.urandom(size)
    masked = frames.mask(payload, KEY)
    assert len(masked) == size and frames.mask(masked, KEY) == payload
    if size >= 4:
        assert masked[:4] == bytes(b ^ k for b, k in zip(payload[:4], KEY, strict=True))


def test_client_and_server_frames_and_close_payloads():
    assert server_frame(Opcode.TEXT, b"hi") == b"\x81\x02hi"
    assert client_frame(Opcode.TEXT, "hi", key=KEY) == b"\x81\x82" + KEY + mask(b"hi", KEY)
    assert server_payload_size(server_frame(Opcode.BINARY, b"x" * 200)) == 200
    assert server_payload_size(server_frame(Opcode.BINARY, b"x" * 70000)) == 70000
    assert close_code(close_payload(CloseCode.TOO_BIG, b"too big")) == 1009
    assert close_code(b"") == CloseCode.NO_STATUS


def test_simple_frames_are_taken_in_order_with_their_types():
    frames = [
        client_frame(Opcode.TEXT, "caf\u00e9", KEY),
        client_frame(Opcode.BINARY, b"\x00\xff", KEY),
        client_frame(Opcode.TEXT, b"", KEY),
        client_frame(Opcode.BINARY, b"y" * 300, KEY),
    ]
    data = b"".join(frames)
    assert take_simple_frames(data) == (["caf\u00e9", b"\x00\xff", "", b"y" * 300], len(data), 5 + 2 + 0 + 300)


@pytest.mark.parametrize(
    ("name", "frame"),
    [
        ("a ping", client_frame(Opcode.PING, b"p", KEY)),
        ("a fragment", frame_header(Opcode.TEXT, 1, fin=False, masked=True) + KEY + mask(b"a", KEY)),
        ("a continuation", frame_header(Opcode.CONTINUATION, 1, masked=True) + KEY + mask(b"a", KEY)),
        ("RSV bits (compressed)", frame_header(Opcode.TEXT, 1, rsv=4, masked=True) + KEY + mask(b"a", KEY)),
        ("an unmasked frame", frame_header(Opcode.TEXT, 1) + b"a"),
        ("a non-minimal length", b"\x81\xfe\x00\x05" + KEY + mask(b"hello", KEY)),
        ("a 64-bit length", frame_header(Opcode.BINARY, 70000, masked=True) + KEY + b"\x00" * 70000),
        ("bad UTF-8", client_frame(Opcode.TEXT, b"\xff\xfe", KEY)),
        ("an incomplete frame", client_frame(Opcode.TEXT, b"hello", KEY)[:-1]),
    ],
)
def test_taking_stops_at_the_first_frame_that_is_not_simple(name, frame):
    good = client_frame(Opcode.TEXT, "good", KEY)
    after = client_frame(Opcode.TEXT, "after", KEY)
    messages, taken, _ = take_simple_frames(good + frame + after)
    assert (messages, taken) == (["good"], len(good)), name


def test_frames_over_a_limit_are_left_for_the_general_parser():
    frame = client_frame(Opcode.BINARY, b"z" * 100, KEY)
    assert take_simple_frames(frame, max_frame=99)[:2] == ([], 0)
    assert take_simple_frames(frame, max_message=99)[:2] == ([], 0)
    assert take_simple_frames(frame, max_frame=100, max_message=100)[:2] == ([b"z" * 100], len(frame))


def test_a_whole_client_pong_is_taken_with_its_payload():
    pong = client_frame(Opcode.PONG, b"ping-payload-12", KEY)
    after = client_frame(Opcode.TEXT, "next", KEY)
    assert take_pong(pong + after) == (b"ping-payload-12", len(pong))
    assert take_pong(client_frame(Opcode.PONG, b"", KEY)) == (b"", 6)


@pytest.mark.parametrize(
    "name, data",
    [
        ("incomplete", client_frame(Opcode.PONG, b"abcdef", KEY)[:-1]),
        ("unmasked", server_frame(Opcode.PONG, b"abc")),
        ("not final", bytes([Opcode.PONG]) + client_frame(Opcode.PONG, b"abc", KEY)[1:]),
        ("RSV bit set", bytes([0xC0 | Opcode.PONG]) + client_frame(Opcode.PONG, b"abc", KEY)[1:]),
        ("over 125 bytes", client_frame(Opcode.PONG, b"x" * 126, KEY)),
        ("a ping", client_frame(Opcode.PING, b"abc", KEY)),
        ("a text frame", client_frame(Opcode.TEXT, "abc", KEY)),
        ("empty", b""),
    ],
)
def test_anything_but_a_whole_valid_pong_is_left_for_the_general_parser(name, data):
    assert take_pong(data) is None, name
