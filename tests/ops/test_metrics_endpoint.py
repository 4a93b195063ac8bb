"""A server's Prometheus endpoint, scraped as Prometheus does, against a real
Daphne process: open sockets, messages and wire bytes by route, closes by
code, input pauses and slow-client closes; the endpoint's own port and
what happens when that port is taken. (tests/ops/test_prometheus.py runs
a real Prometheus against two processes.)"""

import socket
import urllib.error
import urllib.request
from contextlib import ExitStack

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from realtime.server.frames import OP_BINARY, OP_CLOSE, OP_TEXT, client_frame, close_payload
from tests.ops.scrape import scrape, value, wait_for
from tests.support.ports import free_port
from tests.support.raw_ws import FrameReader, open_socket

ECHO, CHAT, MOUSE = "/ws/echo", "/ws/chat/<room>/", "/ws/mouse"


def plain_client(url):
    """No compression and no keepalive pings, so the bytes on the wire are
    exactly the frames this test sends."""
    return connect(url, compression=None, ping_interval=None, max_size=None)


def client_wire_size(payload_length):
    return (2 if payload_length < 126 else 4) + 4 + payload_length  # header, mask key, payload


def server_wire_size(payload_length):
    return (2 if payload_length < 126 else 4) + payload_length


def test_sockets_messages_bytes_and_closes_are_counted_by_route(daphne):
    with ExitStack() as clients:
        sockets_messages_bytes_and_closes(daphne, lambda url: clients.enter_context(plain_client(url)))


def sockets_messages_bytes_and_closes(daphne, plain_client):
    metrics_port = free_port()
    server = daphne(REALTIME_METRICS_PORT=metrics_port)
    before = scrape(metrics_port)
    assert value(before, "realtime_websocket_connections", route=ECHO) == 0

    first, second = plain_client(f"{server.ws_url}{ECHO}"), plain_client(f"{server.ws_url}{ECHO}")
    chat = plain_client(f"{server.ws_url}/ws/chat/lobby/")
    assert '"joined"' in chat.recv(timeout=5)
    sent = ["a" * 10, "b" * 200, ""]
    for text in sent:
        first.send(text)
        assert first.recv(timeout=5) == text
    second.send(b"\x01" * 50)
    assert second.recv(timeout=5) == b"\x01" * 50

    # Tried: 3 text messages (10, 200 and 0 bytes) on one echo socket and a
    # 50-byte binary one on another; a chat socket in room "lobby".
    samples = scrape(metrics_port)
    assert value(samples, "realtime_websocket_connections", route=ECHO) == 2
    assert value(samples, "realtime_websocket_connections", route=CHAT) == 1  # a room is a label value no more
    assert value(samples, "realtime_websocket_messages_total", route=ECHO, direction="in") == 4
    assert value(samples, "realtime_websocket_messages_total", route=ECHO, direction="out") == 4
    sizes = [10, 200, 0, 50]
    bytes_in = value(samples, "realtime_websocket_bytes_total", route=ECHO, direction="in")
    bytes_out = value(samples, "realtime_websocket_bytes_total", route=ECHO, direction="out")
    assert bytes_in == sum(map(client_wire_size, sizes))
    assert bytes_out == sum(map(server_wire_size, sizes))
    assert value(samples, "realtime_websocket_messages_total", route=CHAT, direction="out") >= 1  # "joined"
    assert value(samples, "realtime_websocket_accepted_total", route=ECHO) == 2

    # The client closes one echo socket (1000); a raw client drops its TCP
    # connection on another without a close frame (1006); a mouse socket
    # gets a message over its 64 KiB limit and the server closes it (1009).
    second.close()
    raw = open_socket(server.port, ECHO)
    raw.close()
    mouse = plain_client(f"{server.ws_url}{MOUSE}")
    mouse.send("x" * (64 * 1024 + 1))
    with pytest.raises(ConnectionClosedError):
        mouse.recv(timeout=5)
    assert mouse.close_code == 1009

    samples = wait_for(
        metrics_port,
        lambda s: (
            value(s, "realtime_websocket_closes_total", route=ECHO, code="1006", initiator="none") == 1
            and value(s, "realtime_websocket_closes_total", route=MOUSE, code="1009", initiator="server") == 1
        ),
    )
    assert value(samples, "realtime_websocket_closes_total", route=ECHO, code="1000", initiator="client") == 1
    assert value(samples, "realtime_websocket_closes_total", route=ECHO, code="1006", initiator="none") == 1
    assert value(samples, "realtime_websocket_closes_total", route=MOUSE, code="1009", initiator="server") == 1
    assert value(samples, "realtime_websocket_connections", route=ECHO) == 1
    assert value(samples, "realtime_websocket_connections", route=MOUSE) == 0
    assert value(samples, "realtime_websocket_accepted_total", route=ECHO) == 3
    # A closed socket's messages stay counted (counters never go back).
    assert value(samples, "realtime_websocket_messages_total", route=ECHO, direction="in") == 4
    assert value(samples, "realtime_websocket_bytes_total", route=ECHO, direction="in") >= bytes_in


def test_read_pauses_and_slow_client_closes_are_counted(daphne):
    metrics_port = free_port()
    server = daphne(REALTIME_METRICS_PORT=metrics_port, REALTIME_INBOUND_QUEUE=4, REALTIME_SEND_BUFFER_BYTES=64 * 1024)
    # Tried: 300 echo requests in one TCP write (the server stops reading at
    # 4 waiting), read back in full.
    sock = open_socket(server.port, ECHO)
    sock.sendall(client_frame(OP_TEXT, b"ping") * 300)
    received = b""
    expected = 300 * server_wire_size(4)
    while len(received) < expected:
        received += sock.recv(65536)
    sock.close()
    samples = scrape(metrics_port)
    assert value(samples, "realtime_websocket_read_pauses_total", route=ECHO) >= 1

    # Tried: a client with a tiny receive window sends 16 KiB echo requests
    # and never reads; the server's send buffer (64 KiB here) fills up.
    stalled = open_socket(server.port, ECHO, receive_buffer=4096, timeout=20)
    frame = client_frame(OP_BINARY, b"x" * 16384)
    try:
        for _ in range(4000):
            stalled.sendall(frame)
    except OSError:
        pass  # cut off by the server: what should happen
    stalled.close()
    # The slow-client close is counted when the close frame is queued; the
    # close itself once the TCP connection is gone (the server aborts it up
    # to a second later, when the close handshake times out).
    samples = wait_for(
        metrics_port,
        lambda s: (
            value(s, "realtime_websocket_slow_client_closes_total", route=ECHO) == 1
            and value(s, "realtime_websocket_closes_total", route=ECHO, code="1008", initiator="server") == 1
        ),
    )
    assert value(samples, "realtime_websocket_slow_client_closes_total", route=ECHO) == 1
    assert value(samples, "realtime_websocket_closes_total", route=ECHO, code="1008", initiator="server") == 1


def test_metrics_have_their_own_port_and_are_not_on_the_application_port(daphne):
    metrics_port = free_port()
    server = daphne(REALTIME_METRICS_PORT=metrics_port)
    # Tried: /metrics on the port nginx proxies: nothing there.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.http_url}/metrics", timeout=5)
    assert refused.value.code == 404
    samples = scrape(metrics_port)
    assert value(samples, "process_open_fds") > 0  # prometheus-client's process collector


def test_a_metrics_port_already_in_use_stops_the_server_with_a_clear_message(daphne):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        # Tried: a second process configured with a metrics port another holds.
        with pytest.raises(RuntimeError) as failed:
            daphne(REALTIME_METRICS_PORT=port)
        assert f"cannot serve metrics on 127.0.0.1:{port}" in str(failed.value)
        assert "REALTIME_METRICS_PORT" in str(failed.value)
    finally:
        taken.close()


def test_close_codes_a_client_chooses_cannot_add_series(daphne):
    """Tried: 60 clients each close /ws/echo with a code of their own
    choosing (3000-3019, 4000-4019, 4980-4987, 1000-1003 and 1007-1014).
    Each registered code keeps its number; the rest are counted by range,
    so the close series stay few whatever clients send."""
    metrics_port = free_port()
    server = daphne(REALTIME_METRICS_PORT=metrics_port)
    codes = [*range(3000, 3020), *range(4000, 4020), 1000, 1001, 1002, 1003, *range(1007, 1015), *range(4980, 4988)]
    assert len(codes) == 60
    for code in codes:
        sock = open_socket(server.port, ECHO)
        sock.sendall(client_frame(OP_CLOSE, close_payload(code)))
        try:
            FrameReader(sock).until_close()  # the server's close reply
        except ConnectionError:
            pass  # or the TCP connection ends: counted all the same
        sock.close()

    def echo_closes(samples):
        closes = {}
        for (name, labels), count in samples.items():
            labels = dict(labels)
            if name == "realtime_websocket_closes_total" and labels.get("route") == ECHO:
                closes[labels["code"], labels["initiator"]] = count
        return closes

    samples = wait_for(metrics_port, lambda s: sum(echo_closes(s).values()) == len(codes))
    closes = echo_closes(samples)
    assert closes == {
        ("3xxx", "client"): 20,
        ("4xxx", "client"): 28,
        **{(str(code), "client"): 1 for code in (1000, 1001, 1002, 1003, *range(1007, 1014))},
        ("1002", "server"): 1,  # autobahn does not take 1014 from a client: a protocol error
    }, closes
    assert len(closes) == 14  # 60 codes, 14 series
