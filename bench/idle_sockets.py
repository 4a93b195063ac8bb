"""Idle sockets and the server's memory with them, for bench.idle_memory and
bench.compression: a server started fresh (a registry Peer), one warm-up
connection of the same kind exchanges a message (imports and caches done),
then the baseline RSS; `size` connections opened (bench/wsclient.py) and
left idle for --settle seconds, the RSS read three times a second apart
(median). Per connection = (RSS - baseline) / size. A Peer with `browser`
set has its clients make Chrome's compression offer, and each echoes one
500-byte JSON message (compressed as negotiated) before idling.
"""

import asyncio
import json
import os
import re
import shlex
import time
import zlib

from bench.common import CLIENT_BOUND_SHARE, ClientCpu, median
from bench.processes import Server
from bench.wsclient import OP_TEXT, WebSocketClientProtocol, client_frame, close_all, connect, connect_many
from realtime.server.frames import frame_header, mask

BROWSER_OFFER = "permessage-deflate; client_max_window_bits"
# One chat-like JSON message of exactly 500 bytes.
_ENVELOPE = {"type": "chat.message", "room": "lobby", "user": "bench", "text": ""}
MESSAGE = json.dumps({**_ENVELOPE, "text": "hello from the benchmark " * 40}, separators=(",", ":"))
MESSAGE = json.dumps(
    {**_ENVELOPE, "text": json.loads(MESSAGE)["text"][: 500 - len(json.dumps(_ENVELOPE, separators=(",", ":")))]},
    separators=(",", ":"),
).encode()


class Idle(WebSocketClientProtocol):
    """Plain: opens and idles (the warm-up connection sends one message)."""

    def __init__(self, host, port, path, **options):
        super().__init__(host, port, path, **options)
        self.echoed = asyncio.get_running_loop().create_future()

    def on_message(self, opcode, payload):
        if not self.echoed.done():
            self.echoed.set_result(payload)


class BrowserIdle(Idle):
    """Offers Chrome's permessage-deflate; once open, sends MESSAGE compressed
    as negotiated and checks the (compressed) echo inflates back to it."""

    compressed_frames = {}  # client window bits -> payload (same for every socket)

    def __init__(self, host, port, path):
        super().__init__(host, port, path, extensions=BROWSER_OFFER)
        self.negotiated = False
        self.correct = None

    def on_open(self):
        accepted = self.accepted_extensions or ""
        self.negotiated = "permessage-deflate" in accepted
        if not self.negotiated:
            self.send_raw(client_frame(OP_TEXT, MESSAGE))
            return
        found = re.search(r"client_max_window_bits=(\d+)", accepted)
        # zlib's raw deflate has no 8-bit window: 9 is the smallest it makes.
        bits = max(9, int(found.group(1))) if found else 15
        payload = self.compressed_frames.get(bits)
        if payload is None:
            compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -bits)
            payload = (compressor.compress(MESSAGE) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
            self.compressed_frames[bits] = payload
        key = os.urandom(4)
        # RSV1 set: a compressed message (RFC 7692).
        self.send_raw(frame_header(OP_TEXT, len(payload), rsv=4, masked=True) + key + mask(payload, key))

    def on_message(self, opcode, payload):
        if self.correct is None:
            try:
                text = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") if self.negotiated else payload
            except zlib.error:
                text = payload  # the server sent it uncompressed (RSV1 clear)
            self.correct = text == MESSAGE
        super().on_message(opcode, payload)


def settled_rss(server, samples=3):
    values = []
    for _ in range(samples):
        values.append(server.rss_bytes())
        time.sleep(1.0)
    return median(values)


async def warm_up(server, kind, browser):
    """One connection of the kind measured exchanges a message first."""
    warm = await connect(lambda: kind("127.0.0.1", server.port, "/ws/echo"), "127.0.0.1", server.port)
    if not browser:
        warm.send_raw(client_frame(OP_TEXT, MESSAGE))
    await asyncio.wait_for(warm.echoed, 10)
    await asyncio.sleep(1.0)
    return warm


async def open_idle(server, kind, browser, size, args):
    """`size` idle sockets (browser ones have echoed their message), the
    seconds it took and the client's CPU share meanwhile."""
    cpu = ClientCpu()
    started = time.monotonic()
    clients = await connect_many(
        lambda index, port: kind("127.0.0.1", port, "/ws/echo"),
        size,
        "127.0.0.1",
        [server.port],
        concurrency=args.concurrency,
        timeout=60.0,
    )
    if browser:
        await asyncio.wait([client.echoed for client in clients], timeout=30)
    return clients, time.monotonic() - started, cpu.share()


async def measure(peer, size, args, argv=None):
    """RSS growth per idle socket of `peer` (a registry Peer) at `size`."""
    server = Server(f"idle-{peer.name}", argv or peer.argv(), peer.env(), cpus=args.server_cpus)
    kind = BrowserIdle if peer.browser else Idle
    try:
        warm = await warm_up(server, kind, peer.browser)
        baseline = await asyncio.to_thread(settled_rss, server)
        clients, connect_seconds, client_share = await open_idle(server, kind, peer.browser, size, args)
        await asyncio.sleep(args.settle)
        loaded = await asyncio.to_thread(settled_rss, server)
        result = {
            "row": peer.name,
            "offer": BROWSER_OFFER if peer.browser else None,
            "sockets": size,
            "open_after_settle": sum(1 for client in clients if client.is_open),
            "negotiated_compression": sum(1 for client in clients if getattr(client, "negotiated", False)),
            "accepted_extension": clients[0].accepted_extensions if clients else None,
            "echoed_message_correctly": sum(1 for client in clients if getattr(client, "correct", False))
            if peer.browser
            else None,
            "baseline_rss_mib": round(baseline / 2**20, 1),
            "loaded_rss_mib": round(loaded / 2**20, 1),
            "kib_per_connection": round((loaded - baseline) / size / 1024, 2),
            "connect_seconds": round(connect_seconds, 2),
            "client_cpu_share_while_connecting": round(client_share, 3),
            # Idle memory does not depend on client speed, but say so anyway.
            "client_bound": client_share > CLIENT_BOUND_SHARE,
            "server_command": " ".join(shlex.quote(part) for part in server.command),
        }
        await close_all(clients + [warm])
    finally:
        server.stop()
    return result
