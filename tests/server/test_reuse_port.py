"""Several server processes behind one port (REALTIME_REUSE_PORT=1,
realtime/server/reuse_port.py): the kernel spreads the connections over
them, and the port keeps serving when one of them dies."""

import subprocess
import time

import psutil
import pytest

from realtime.server.frames import OP_TEXT, client_frame
from tests.support.ports import free_port
from tests.support.raw_ws import FrameReader, open_socket

SOCKETS = 40


def echoes(sock):
    sock.sendall(client_frame(OP_TEXT, b"hello"))
    return FrameReader(sock).frame() == (OP_TEXT, b"hello")


def sockets_held(server, port):
    return sum(
        1
        for connection in psutil.Process(server.process.pid).net_connections("tcp")
        if connection.laddr.port == port and connection.status == psutil.CONN_ESTABLISHED
    )


def wait_until_listening(server, port, timeout=30.0):
    """The fixture's readiness check passes as soon as the port answers, which
    the first server already does: wait until this one listens too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(
            connection.laddr.port == port and connection.status == psutil.CONN_LISTEN
            for connection in psutil.Process(server.process.pid).net_connections("tcp")
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"the second server did not listen on {port} within {timeout:g} s: {server.output()[-2000:]}")


def test_two_processes_share_one_port_and_survive_one_dying(daphne):
    """Tried: two servers started on the same port with REALTIME_REUSE_PORT=1,
    40 clients on /ws/echo, then one server SIGKILLed. Both held some of the
    sockets (every one echoed), and after the kill 10 new clients on the same
    port are served by the other."""
    port = free_port()
    first = daphne(port=port, REALTIME_REUSE_PORT="1")
    second = daphne(port=port, REALTIME_REUSE_PORT="1")
    wait_until_listening(second, port)
    sockets = [open_socket(port, "/ws/echo", timeout=10) for _ in range(SOCKETS)]
    try:
        assert all(echoes(sock) for sock in sockets)
        held = [sockets_held(server, port) for server in (first, second)]
        assert sum(held) == SOCKETS and min(held) > 0, f"sockets per process: {held}"
        first.kill()
        later = [open_socket(port, "/ws/echo", timeout=10) for _ in range(10)]
        assert all(echoes(sock) for sock in later)
        for sock in later:
            sock.close()
    finally:
        for sock in sockets:
            sock.close()


def test_without_it_a_second_server_cannot_take_the_port(daphne):
    """Tried: the same two servers without the setting: the second one stops
    with a listen failure (address in use), so the sharing above is the
    setting's doing."""
    port = free_port()
    daphne(port=port)
    second = daphne(port=port)  # ready at once: the first one answers on the port
    try:
        second.process.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail("a second server without REALTIME_REUSE_PORT kept running on a port in use")
    assert "Listen failure" in second.output() and "in use" in second.output(), second.output()[-2000:]
