"""A quick check that every server of the registry starts, echoes a message
on /ws/echo and sends a tick on /ws/time, before `make bench` spends its
time on them (a few seconds a server):

    .venv/bin/python -m bench.peers.smoke [NAME ...]

A peer that cannot run here (Go missing) is reported and skipped, as the
benchmarks do; any other failure exits 1 with one line per server.
"""

import json
import sys

from websockets.sync.client import connect

from bench.peers.registry import SERVERS
from bench.processes import Server

CHAT_ONLY = {"stock-chat"}


def check(peer):
    """None when `peer` echoes and ticks, else what went wrong."""
    argv, missing = peer.resolve()
    if missing:
        print(f"  {peer.name:18s} skipped: {missing}")
        return None
    server = Server(f"smoke-{peer.name}", argv, peer.env(), cpus=None)
    try:
        with connect(f"ws://127.0.0.1:{server.port}/ws/echo", compression=None, open_timeout=10) as socket:
            socket.send("smoke")
            echoed = socket.recv(timeout=10)
        with connect(f"ws://127.0.0.1:{server.port}/ws/time", compression=None, open_timeout=10) as socket:
            tick = json.loads(socket.recv(timeout=5))
    except Exception as error:  # any failure is the answer
        return f"{type(error).__name__}: {error}; its log: {server.log_path}"
    finally:
        server.stop()
    if echoed != "smoke" or "seq" not in tick:
        return f"echoed {echoed!r}, ticked {tick!r}"
    print(f"  {peer.name:18s} echoes and ticks")
    return None


def main(names):
    failures = {}
    for name in names or [name for name in SERVERS if name not in CHAT_ONLY]:
        problem = check(SERVERS[name])
        if problem:
            failures[name] = problem
            print(f"  {name:18s} FAILED: {problem}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
