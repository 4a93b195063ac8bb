"""The floor under a tick: what one send() of a tick-sized frame to one
loopback TCP socket costs this machine's kernel, and one recv() of it, with
no server, no framing and no event loop (a plain loop over --sockets
connected pairs, --rounds times).

On loopback the sender's send() also runs the receiving side's TCP stack
(the packet is delivered in the sender's context), so a tick to N sockets
on one box costs at least N sends of this kind plus N recvs by the clients,
however the server is written. bench.c100k's targets are set against it in
docs/SCALE.md.

    .venv/bin/python -m bench.send_floor [--sockets 5000] [--rounds 5]
"""

import socket
import statistics
import time

from bench.common import machine_state, raise_open_file_limit, write_result
from bench.runner import argument_parser, result_head, run

FRAME = b"\x81\x58" + b"x" * 88  # a 90-byte text frame, the size of a /ws/time tick


def connected_pairs(count):
    listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
    pairs = []
    for _ in range(count):
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        pairs.append((server, client))
    listener.close()
    return pairs


def one_round(pairs):
    """(CPU microseconds per send, per recv) over every pair once."""
    started = time.process_time()
    for server, _ in pairs:
        server.send(FRAME)
    sent = time.process_time()
    for _, client in pairs:
        client.recv(4096)
    received = time.process_time()
    return (sent - started) / len(pairs) * 1e6, (received - sent) / len(pairs) * 1e6


async def main(args):
    state = machine_state()
    raise_open_file_limit(2 * args.sockets + 1024)
    pairs = connected_pairs(args.sockets)
    try:
        rounds = [one_round(pairs) for _ in range(args.rounds)]
    finally:
        for server, client in pairs:
            server.close()
            client.close()
    send_us = round(statistics.median(r[0] for r in rounds), 2)
    recv_us = round(statistics.median(r[1] for r in rounds), 2)
    per_100k = round((send_us + recv_us) * 100000 / 1e6, 2)
    print(f"send_floor: {args.sockets:,} loopback sockets, median of {args.rounds} rounds")
    print(f"  send() {send_us} us, recv() {recv_us} us of CPU per socket")
    print(f"  a tick to 100,000 sockets: at least {per_100k} s of CPU")
    write_result(
        args.output,
        {
            **result_head(
                "send_floor", args, state, server_processes="none: both ends in this one process, not pinned"
            ),
            "parameters": {"sockets": args.sockets, "rounds": args.rounds, "frame_bytes": len(FRAME)},
            "rounds_us": [[round(a, 2), round(b, 2)] for a, b in rounds],
            "send_us": send_us,
            "recv_us": recv_us,
            "cpu_seconds_per_tick_to_100000": per_100k,
        },
    )


def parse_args(argv=None):
    parser = argument_parser(__doc__, "send_floor", client=False)
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
