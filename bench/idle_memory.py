"""Idle memory per connection: the server's resident memory (RSS) growth per
open, idle WebSocket on /ws/echo, at 1,000 and 10,000 sockets. Rows
(`--rows`, servers from bench/peers):

- ours, stock, uvicorn, websockets, gorilla: plain connections (no
  extension offered), opened and left idle;
- ours+browser, websockets+browser: connections made with a browser's
  compression offer, `permessage-deflate; client_max_window_bits` (Chrome's,
  and the `websockets` client's default), each of which echoes one 500-byte
  JSON message (compressed) and then idles. The raw `websockets` server runs
  with its default compression here (`--compression deflate`).

Each server starts fresh for each size, pinned to CPU 0. One warm-up
connection of the same kind exchanges a message (imports and caches done),
then the baseline RSS is read; the N connections are opened (bench/wsclient.py,
the load client pinned to CPU 1), left idle for --settle seconds, and the RSS
is read three times a second apart (median). Per connection = (RSS -
baseline) / N. Each row says how many connections negotiated compression.
Targets at 10,000: ours <= 16 KiB per plain connection, <= 40 KiB with the
browser's offer.

    .venv/bin/python -m bench.idle_memory [--sizes 1000,10000] [--rows ours,ours+browser,websockets]
"""

import asyncio
import json
import os
import re
import shlex
import time
import zlib

from bench.common import (
    CLIENT_BOUND_SHARE,
    ClientCpu,
    Server,
    load_average,
    machine_state,
    median,
    raise_open_file_limit,
    write_result,
)
from bench.peers import SERVERS, resolve
from bench.runner import argument_parser, command_line, names_from, run
from bench.wsclient import OP_TEXT, WebSocketClientProtocol, client_frame, close_all, connect, connect_many
from realtime.server.frames import frame_header, mask

TARGETS_KIB_AT_10000 = {"ours": 16.0, "ours+browser": 40.0}
BROWSER_OFFER = "permessage-deflate; client_max_window_bits"
# One chat-like JSON message of exactly 500 bytes.
_ENVELOPE = {"type": "chat.message", "room": "lobby", "user": "bench", "text": ""}
MESSAGE = json.dumps({**_ENVELOPE, "text": "hello from the benchmark " * 40}, separators=(",", ":"))
MESSAGE = json.dumps({**_ENVELOPE, "text": json.loads(MESSAGE)["text"][: 500 - len(json.dumps(
    _ENVELOPE, separators=(",", ":")))]}, separators=(",", ":")).encode()
ROWS = {
    # row: (server in bench/peers, browser offer?, extra server arguments)
    "ours": ("ours", False, []),
    "ours+browser": ("ours", True, []),
    "stock": ("stock", False, []),
    "uvicorn": ("uvicorn", False, []),
    "websockets": ("websockets", False, []),
    "websockets+browser": ("websockets", True, ["--compression", "deflate"]),
    "gorilla": ("gorilla", False, []),
}
DEFAULT_ROWS = "ours,ours+browser,websockets,websockets+browser,stock,uvicorn,gorilla"


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
                text = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") if self.negotiated \
                    else payload
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


async def measure(row, size, args, argv):
    peer, browser, _ = ROWS[row]
    server = Server(f"idle-{row}", argv, SERVERS[peer]["env"](), cpus=args.server_cpus)
    kind = BrowserIdle if browser else Idle
    clients = []
    try:
        warm = await connect(lambda: kind("127.0.0.1", server.port, "/ws/echo"), "127.0.0.1", server.port)
        if not browser:
            warm.send_raw(client_frame(OP_TEXT, MESSAGE))
        await asyncio.wait_for(warm.echoed, 10)
        await asyncio.sleep(1.0)
        baseline = await asyncio.to_thread(settled_rss, server)
        cpu = ClientCpu()
        started = time.monotonic()
        clients = await connect_many(lambda index, port: kind("127.0.0.1", port, "/ws/echo"), size, "127.0.0.1",
                                     [server.port], concurrency=args.concurrency, timeout=60.0)
        if browser:
            await asyncio.wait([client.echoed for client in clients], timeout=30)
        connect_seconds = time.monotonic() - started
        client_share = cpu.share()
        await asyncio.sleep(args.settle)
        loaded = await asyncio.to_thread(settled_rss, server)
        open_count = sum(1 for client in clients if client.is_open)
        command = " ".join(shlex.quote(part) for part in server.command)
        negotiated = sum(1 for client in clients if getattr(client, "negotiated", False))
        echoed = sum(1 for client in clients if getattr(client, "correct", False))
        accepted = clients[0].accepted_extensions if clients else None
        await close_all(clients + [warm])
    finally:
        server.stop()
    per_connection = (loaded - baseline) / size
    return {
        "row": row,
        "server": peer,
        "offer": BROWSER_OFFER if browser else None,
        "sockets": size,
        "open_after_settle": open_count,
        "negotiated_compression": negotiated,
        "accepted_extension": accepted,
        "echoed_message_correctly": echoed if browser else None,
        "baseline_rss_mib": round(baseline / 2**20, 1),
        "loaded_rss_mib": round(loaded / 2**20, 1),
        "kib_per_connection": round(per_connection / 1024, 2),
        "connect_seconds": round(connect_seconds, 2),
        "client_cpu_share_while_connecting": round(client_share, 3),
        # Idle memory does not depend on client speed, but say so anyway.
        "client_bound": client_share > CLIENT_BOUND_SHARE,
        "server_command": command,
    }


def verdicts(results):
    """{row: {"kib", "target", "met"}} for the rows with a target at 10,000."""
    out = {}
    for row, target in TARGETS_KIB_AT_10000.items():
        match = [r for r in results if r["row"] == row and r["sockets"] == 10000]
        if match:
            out[row] = {"kib_per_connection": match[0]["kib_per_connection"], "target": target,
                        "met": match[0]["kib_per_connection"] <= target}
    return out


async def main(args):
    state = machine_state()
    state["open_file_limit"] = raise_open_file_limit(max(args.sizes) + 1024)
    print(f"idle memory per connection: rows {args.rows} on CPU {args.server_cpus}, "
          f"client on CPU {args.client_cpu}, sizes {args.sizes}; load average {load_average()}; "
          f"scheduling: {state['scheduling']}")
    results, unavailable = [], {}
    for row in args.rows:
        peer, _, extra = ROWS[row]
        argv, missing = resolve(peer)
        if missing:
            unavailable[row] = missing
            print(f"  {row:>18}: {missing}")
    for size in args.sizes:
        for row in args.rows:
            if row in unavailable:
                continue
            peer, _, extra = ROWS[row]
            argv, _ = resolve(peer)
            result = await measure(row, size, args, argv + extra)
            flag = " CLIENT-BOUND" if result["client_bound"] else ""
            compression = ""
            if result["offer"]:
                compression = (f", {result['negotiated_compression']} negotiated "
                               f"{result['accepted_extension']!r}, {result['echoed_message_correctly']} echoed")
            print(f"  {row:>18} {size:>6} sockets: {result['kib_per_connection']:6.1f} KiB/connection "
                  f"(RSS {result['baseline_rss_mib']} -> {result['loaded_rss_mib']} MiB, "
                  f"{result['open_after_settle']} open{compression}; client CPU while connecting "
                  f"{result['client_cpu_share_while_connecting']:.0%}{flag})", flush=True)
            results.append(result)
    targets = verdicts(results)
    for row, item in targets.items():
        print(f"  target: {row} <= {item['target']:g} KiB/connection at 10,000: "
              f"{item['kib_per_connection']} ({'MET' if item['met'] else 'MISSED'})")
    command = command_line()
    path = write_result(args.output, {
        "benchmark": "idle_memory",
        "command": command,
        "machine": state,
        "load_average_at_end": load_average(),
        "parameters": {"settle_seconds": args.settle, "server_cpus": args.server_cpus,
                       "client_cpu": args.client_cpu, "path": "/ws/echo",
                       "browser_offer": BROWSER_OFFER, "browser_message_bytes": len(MESSAGE),
                       "measure": "(median RSS of 3 reads after settle - RSS before connecting) / sockets",
                       "scheduling": state["scheduling"]},
        "rows": {row: SERVERS[ROWS[row][0]]["describe"] for row in args.rows},
        "not_installed": unavailable,
        "target": {"kib_per_connection_at_10000": TARGETS_KIB_AT_10000, "verdicts": targets},
        "results": results,
    })
    print(f"written {os.path.relpath(path)}")


def parse_args(argv=None):
    parser = argument_parser(__doc__, "idle_memory")
    parser.add_argument("--sizes", default=[1000, 10000], type=lambda t: [int(n) for n in t.split(",") if n])
    parser.add_argument("--rows", "--servers", dest="rows", default=DEFAULT_ROWS.split(","),
                        type=names_from(ROWS),
                        help="comma-separated, from: " + ", ".join(ROWS) + f" (default {DEFAULT_ROWS})")
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=200)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
