"""A quick check that every server of the registry starts, echoes a message
on /ws/echo and sends a tick on /ws/time (the chat-only peers: signs up,
posts in a room and gets the post back), before `make bench` spends its
time on them (a few seconds a server):

    .venv/bin/python -m bench.peers.smoke [NAME ...]

A peer that cannot run here (Go missing) is reported and skipped, as the
benchmarks do; any other failure exits 1 with one line per server.
"""

import json
import sys
import uuid

from websockets.sync.client import connect

from bench.chat_members import sign_up
from bench.peers.registry import SERVERS
from bench.processes import Server

CHAT_ONLY = {"stock-chat"}


def echoes_and_ticks(server):
    """None when the server echoes and ticks, else what it did instead."""
    with connect(f"ws://127.0.0.1:{server.port}/ws/echo", compression=None, open_timeout=10) as socket:
        socket.send("smoke")
        echoed = socket.recv(timeout=10)
    with connect(f"ws://127.0.0.1:{server.port}/ws/time", compression=None, open_timeout=10) as socket:
        tick = json.loads(socket.recv(timeout=5))
    if echoed != "smoke" or "seq" not in tick:
        return f"echoed {echoed!r}, ticked {tick!r}"
    return None


def posts_and_delivers(server):
    """None when a signed-up member's post in a room comes back to it as the
    room's message (what bench.chat_fanout counts), else what came instead."""
    session = sign_up(server.port, f"smoke-{uuid.uuid4().hex[:8]}")
    headers = {"Cookie": f"sessionid={session}", "Origin": f"http://127.0.0.1:{server.port}"}
    url = f"ws://127.0.0.1:{server.port}/ws/chat/smoke/"
    with connect(url, compression=None, open_timeout=10, additional_headers=headers) as socket:
        socket.send(json.dumps({"action": "post", "room": "smoke", "text": "smoke post", "client_id": "smoke-1"}))
        seen = []
        while len(seen) < 10:
            frame = json.loads(socket.recv(timeout=10))
            seen.append(frame.get("type"))
            if frame.get("type") == "message" and frame["message"].get("text") == "smoke post":
                return None
    return f"no message frame with the post; frames seen: {seen}"


def check(peer):
    """None when `peer` serves what its benchmarks use, else what went wrong."""
    argv, missing = peer.resolve()
    if missing:
        print(f"  {peer.name:18s} skipped: {missing}")
        return None
    chat_only = peer.name in CHAT_ONLY
    server = Server(f"smoke-{peer.name}", argv, peer.env(), cpus=None)
    try:
        problem = (posts_and_delivers if chat_only else echoes_and_ticks)(server)
    except Exception as error:  # any failure is the answer
        problem = f"{type(error).__name__}: {error}"
    finally:
        server.stop()
    if problem:
        return f"{problem}; its log: {server.log_path}"
    print(f"  {peer.name:18s} {'posts and delivers' if chat_only else 'echoes and ticks'}")
    return None


def main(names):
    failures = {}
    for name in names or SERVERS:
        problem = check(SERVERS[name])
        if problem:
            failures[name] = problem
            print(f"  {name:18s} FAILED: {problem}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
