"""Loopback ports: a free one to listen on, and waiting until a started
process listens (used by the tests and by bench/)."""

import socket
import time


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=15.0, process=None):
    """True once 127.0.0.1:`port` accepts a connection; False after `timeout`
    seconds or as soon as `process` (a Popen) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False
