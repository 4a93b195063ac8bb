"""permessage-deflate as browsers and odd clients meet it, on a real server
subprocess (`python -m realtime.server`): the parameters it answers with, what
a socket costs with them, offers it must decline without failing the
handshake, and a compression bomb (close 1009, bounded server memory).

Raw offers go over a bare socket: a client library refuses to send
malformed parameters, and would refuse a response it did not offer."""

import contextlib
import json
import os
import socket
import threading
import time
import zlib

import psutil
import pytest
from websockets.sync.client import connect

from realtime.server.frames import OP_CLOSE, OP_TEXT, close_code, frame_header, mask, parse_header
from tests.support.raw_ws import handshake_request, read_handshake_head

KIB = 1024
MIB = 1024 * KIB
CHOSEN = (
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
    "server_max_window_bits=12; client_max_window_bits=12"
)
JSON_500 = json.dumps({"type": "message", "author": "alice", "text": "lorem ipsum dolor sit amet " * 17})[:500]


# -- a bare client that can offer anything ------------------------------------


class RawClient:
    """The opening handshake with any Sec-WebSocket-Extensions header, then
    masked frames, compressed or not, as the response allows."""

    def __init__(self, port, offer, path="/ws/echo"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        offer_header = [("Sec-WebSocket-Extensions", offer)] if offer is not None else []
        self.sock.sendall(handshake_request(port, path, origin=False, headers=offer_header))
        self.status, self.headers = read_handshake_head(self.sock)
        self.buffer = b""
        self.extensions = self.headers.get("sec-websocket-extensions")

    def params(self):
        """The accepted permessage-deflate parameters ({} if none), by name."""
        if not self.extensions:
            return None
        name, *params = [part.strip() for part in self.extensions.split(";")]
        assert name == "permessage-deflate", self.extensions
        return dict((p.split("=") + [True])[:2] for p in params)

    def send(self, payload, compress_bits=None):
        """A text message; deflated with a fresh compressor of `compress_bits`
        (no context taken over) when given."""
        data = payload.encode()
        rsv = 0
        if compress_bits is not None:
            compressor = zlib.compressobj(6, zlib.DEFLATED, -compress_bits)
            data = (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
            rsv = 0b100
        key = os.urandom(4)
        self.sock.sendall(frame_header(OP_TEXT, len(data), rsv=rsv, masked=True) + key + mask(data, key))

    def send_raw(self, data):
        self.sock.sendall(data)

    def receive(self):
        """(rsv1, opcode, payload) of the next server frame."""
        while True:
            header = parse_header(self.buffer)
            if header is not None and len(self.buffer) >= header[5] + header[4]:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buffer += chunk
        fin, rsv, opcode, masked, length, size = header
        assert fin and not masked
        payload, self.buffer = self.buffer[size : size + length], self.buffer[size + length :]
        return bool(rsv & 0b100), opcode, payload

    def receive_text(self, server_bits):
        """The next text message, inflated as the server said it deflates: a
        fresh decompressor per message (server_no_context_takeover)."""
        compressed, opcode, payload = self.receive()
        assert opcode == OP_TEXT, (opcode, payload)
        if compressed:
            payload = zlib.decompressobj(-server_bits).decompress(payload + b"\x00\x00\xff\xff")
        return compressed, payload.decode()

    def close(self):
        self.sock.close()


def round_trips(client, params):
    """Under the negotiated `params` (None: no compression), two messages
    each way: a compressible 500-byte JSON and a small one. Returns whether
    the server's echoes were compressed."""
    client_bits = None
    server_bits = 15
    if params is not None:
        client_bits = int(params.get("client_max_window_bits", 15))
        server_bits = int(params.get("server_max_window_bits", 15))
        if client_bits == 8:
            # zlib cannot deflate raw with a 256-byte window; a client may
            # send any message uncompressed, so this one does.
            client_bits = None
    seen = []
    for text in (JSON_500, JSON_500 + " again", '{"x":1,"y":2}'):
        client.send(text, compress_bits=client_bits)
        compressed, echoed = client.receive_text(server_bits)
        assert echoed == text
        seen.append(compressed)
    return seen


# -- what a browser gets ------------------------------------------------------


def test_chrome_offer_gets_no_context_takeover_and_small_windows(daphne):
    """Tried: Chrome's offer (`permessage-deflate; client_max_window_bits`,
    also the `websockets` client's default). The response asks for no context
    takeover both ways and 12-bit windows; compressible messages come back
    compressed, each inflatable on its own, a small one uncompressed."""
    server = daphne()
    client = RawClient(server.port, "permessage-deflate; client_max_window_bits")
    try:
        assert " 101 " in client.status + " "
        assert client.extensions == CHOSEN
        assert round_trips(client, client.params()) == [True, True, False]
    finally:
        client.close()
    with connect(f"{server.ws_url}/ws/echo") as ws:  # the websockets client agrees
        assert ws.response.headers["Sec-WebSocket-Extensions"] == CHOSEN
        for text in (JSON_500, "", "short", JSON_500 * 20):
            ws.send(text)
            assert ws.recv(timeout=5) == text


def test_idle_compressed_socket_costs_about_what_a_plain_one_does(daphne):
    """Tried: 300 sockets with Chrome's offer each echo a 500-byte JSON
    message and idle, then 300 plain ones. With context takeover (zlib's
    defaults) each compressed socket kept ~100 KiB of zlib state; now it
    must cost at most 12 KiB more than a plain one (measured: ~1.5 KiB)."""
    server = daphne(REALTIME_TRACING="0")
    process = psutil.Process(server.process.pid)

    def cost_per_socket(compression):
        with connect(f"{server.ws_url}/ws/echo", compression=compression) as warm:
            warm.send(JSON_500)
            warm.recv(timeout=5)
        time.sleep(0.5)
        before = process.memory_info().rss
        with contextlib.ExitStack() as sockets:
            for _ in range(300):
                ws = sockets.enter_context(connect(f"{server.ws_url}/ws/echo", compression=compression))
                ws.send(JSON_500)
                assert ws.recv(timeout=5) == JSON_500
            time.sleep(1.0)
            return (process.memory_info().rss - before) / 300

    plain = cost_per_socket(None)
    time.sleep(1.0)
    compressed = cost_per_socket("deflate")
    assert compressed - plain < 12 * KIB, (compressed / KIB, plain / KIB)


# -- odd offers: a clear choice or a plain connection -------------------------


ODD_OFFERS = [
    # One side's no-context-takeover only: granted, and the other side too.
    (
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12",
    ),
    (
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12",
    ),
    # A smaller server window than ours is honoured; a larger one is cut to ours.
    (
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=12",
    ),
    (
        "permessage-deflate; server_max_window_bits=15",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12",
    ),
    # A client's window hint of 8 (RFC 7692 allows 8): the client deflates
    # with at most 8 bits, which any inflater of 9+ reads.
    (
        "permessage-deflate; client_max_window_bits=8",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=12; client_max_window_bits=8",
    ),
    # The server asked for 8 bits: zlib cannot deflate raw with 8, so that
    # offer is declined; alone, the socket opens without compression...
    ("permessage-deflate; server_max_window_bits=8", None),
    # ...and with a second offer, the second is taken.
    ("permessage-deflate; server_max_window_bits=8, permessage-deflate; client_max_window_bits", CHOSEN),
    # Several offers: the first usable one wins, unknown extensions are ignored.
    (
        "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=11, permessage-deflate",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11",
    ),
    # Malformed parameters: that offer is declined, the next one taken.
    ("permessage-deflate; client_max_window_bits=abc, permessage-deflate; client_max_window_bits", CHOSEN),
    # Malformed and alone: a plain connection.
    ("permessage-deflate; client_max_window_bits=abc", None),
    ("permessage-deflate; server_max_window_bits", None),  # a value is required
    ("permessage-deflate; server_max_window_bits=010", None),  # leading zero
    ("permessage-deflate; client_max_window_bits=16", None),  # out of range
    ("permessage-deflate; server_max_window_bits=7", None),
    ("permessage-deflate; server_no_context_takeover=yes", None),  # takes no value
    ("permessage-deflate; server_max_window_bits=10; server_max_window_bits=11", None),  # repeated
    ("permessage-deflate; mystery_parameter", None),  # unknown
    (
        'permessage-deflate; client_max_window_bits="12"',  # quoted: RFC 7692 allows it
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=12; client_max_window_bits=12",
    ),
    (";;, ,;=; ,", None),  # junk
    ("", None),  # empty header
]


def test_odd_offers_get_a_clear_choice_or_a_plain_connection(daphne):
    """Tried: each offer in ODD_OFFERS in a real handshake, on one server.
    The handshake always succeeds (101), the response carries exactly the
    expected choice (or no extension), and three messages each way work
    under it (compressed ones inflated as the response says: a fresh
    inflater per message; the small one comes back uncompressed)."""
    server = daphne()
    wrong = []
    for offer, expected in ODD_OFFERS:
        client = RawClient(server.port, offer)
        try:
            if " 101 " not in client.status + " ":
                wrong.append(f"{offer!r}: handshake answered {client.status!r}")
                continue
            if client.extensions != expected:
                wrong.append(f"{offer!r}: response {client.extensions!r}, expected {expected!r}")
                continue
            compressed = round_trips(client, client.params())
            if compressed != ([True, True, False] if expected else [False, False, False]):
                wrong.append(f"{offer!r}: echoes compressed {compressed}")
        finally:
            client.close()
    assert not wrong, "\n".join(wrong)


def test_compression_switched_off_ignores_every_offer(daphne):
    """Tried: REALTIME_PERMESSAGE_DEFLATE=0 and Chrome's offer: a plain socket."""
    server = daphne(REALTIME_PERMESSAGE_DEFLATE="0")
    client = RawClient(server.port, "permessage-deflate; client_max_window_bits")
    try:
        assert client.extensions is None
        assert round_trips(client, None) == [False, False, False]
    finally:
        client.close()


def test_bad_deflate_setting_stops_the_start_with_one_line(daphne):
    """Tried: REALTIME_DEFLATE_SERVER_WINDOW_BITS=8 (zlib has no raw 8-bit
    deflate). The server refuses to start and says which setting."""
    with pytest.raises(RuntimeError) as refused:
        daphne(REALTIME_DEFLATE_SERVER_WINDOW_BITS="8")
    assert "REALTIME_DEFLATE_*: server_window_bits must be 9 to 15" in str(refused.value)


# -- a compression bomb --------------------------------------------------------


def test_compression_bomb_closes_1009_with_bounded_server_memory(daphne):
    """Tried: one 256 KiB compressed frame that inflates to 256 MiB of zeros,
    against the echo socket's 1 MiB limit. The server closes with 1009, its
    RSS (sampled every 5 ms during the bomb) grows by less than 64 MiB, and
    the next client is served."""
    server = daphne(REALTIME_TRACING="0")
    process = psutil.Process(server.process.pid)
    client = RawClient(server.port, "permessage-deflate; client_max_window_bits")
    assert client.extensions == CHOSEN
    compressor = zlib.compressobj(9, zlib.DEFLATED, -12)
    zeros = b"\0" * MIB
    body = b"".join(compressor.compress(zeros) for _ in range(256)) + compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
    assert len(body) < 300 * KIB
    key = os.urandom(4)
    bomb = frame_header(OP_TEXT, len(body), rsv=0b100, masked=True) + key + mask(body, key)

    baseline = process.memory_info().rss
    peak = [baseline]
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        client.send_raw(bomb)
        _, opcode, payload = client.receive()
        time.sleep(0.3)
    finally:
        sampling.set()
        sampler.join()
        client.close()
    assert opcode == OP_CLOSE and close_code(payload) == 1009, (opcode, payload)
    assert peak[0] - baseline < 64 * MIB, f"server RSS grew by {(peak[0] - baseline) / MIB:.0f} MiB"
    with connect(f"{server.ws_url}/ws/echo") as ws:
        ws.send("next client")
        assert ws.recv(timeout=3) == "next client"
