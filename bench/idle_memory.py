"""Idle memory per connection: the server's resident memory (RSS) growth per
open, idle WebSocket on /ws/echo, at 1,000 and 10,000 sockets. Rows
(`--rows`, servers from bench/peers):

- ours, stock, uvicorn, granian, websockets, aiohttp, picows, gorilla:
  plain connections (no extension offered), opened and left idle;
- ours+browser, websockets+browser: connections made with a browser's
  compression offer, `permessage-deflate; client_max_window_bits` (Chrome's,
  and the `websockets` client's default), each of which echoes one 500-byte
  JSON message (compressed) and then idles. The raw `websockets` server runs
  with its default compression here (`--compression deflate`).

Each server starts fresh for each size, pinned to CPU 0, the client pinned
to CPU 1; how it is measured: bench/idle_sockets.py. RSS counts a server's
whole process tree (granian's workers too). Each row says how many
connections negotiated compression.
Targets at 10,000: ours <= 16 KiB per plain connection, <= 40 KiB with the
browser's offer.

    .venv/bin/python -m bench.idle_memory [--sizes 1000,10000] [--rows ours,ours+browser,websockets]
"""

import os

from bench.common import load_average, machine_state, raise_open_file_limit, write_result
from bench.idle_sockets import BROWSER_OFFER, MESSAGE, measure
from bench.peers.registry import IDLE_ROWS, SERVERS
from bench.runner import argument_parser, names_from, result_head, run

TARGETS_KIB_AT_10000 = {"ours": 16.0, "ours+browser": 40.0}


def verdicts(results):
    """{row: {"kib", "target", "met"}} for the rows with a target at 10,000."""
    out = {}
    for row, target in TARGETS_KIB_AT_10000.items():
        match = [r for r in results if r["row"] == row and r["sockets"] == 10000]
        if match:
            out[row] = {
                "kib_per_connection": match[0]["kib_per_connection"],
                "target": target,
                "met": match[0]["kib_per_connection"] <= target,
            }
    return out


def print_result(result):
    flag = " CLIENT-BOUND" if result["client_bound"] else ""
    compression = ""
    if result["offer"]:
        compression = (
            f", {result['negotiated_compression']} negotiated "
            f"{result['accepted_extension']!r}, {result['echoed_message_correctly']} echoed"
        )
    print(
        f"  {result['row']:>18} {result['sockets']:>6} sockets: {result['kib_per_connection']:6.1f} "
        f"KiB/connection (RSS {result['baseline_rss_mib']} -> {result['loaded_rss_mib']} MiB, "
        f"{result['open_after_settle']} open{compression}; client CPU while connecting "
        f"{result['client_cpu_share_while_connecting']:.0%}{flag})",
        flush=True,
    )


async def measure_rows(args, unavailable):
    """Every size, every installed row: (results, failed). A row whose
    server refuses or drops the connections is recorded as failed with the
    reason, and the others are still measured."""
    results, failed = [], {}
    for size in args.sizes:
        for row in (row for row in args.rows if row not in unavailable):
            try:
                results.append(await measure(SERVERS[row], size, args))
            except (OSError, TimeoutError, RuntimeError) as error:
                failed.setdefault(row, {})[str(size)] = f"{type(error).__name__}: {error}"
                print(f"  {row:>18} {size:>6} sockets: failed: {type(error).__name__}: {error}", flush=True)
                continue
            print_result(results[-1])
    return results, failed


async def main(args):
    state = machine_state()
    state["open_file_limit"] = raise_open_file_limit(max(args.sizes) + 1024)
    print(
        f"idle memory per connection: rows {args.rows} on CPU {args.server_cpus}, "
        f"client on CPU {args.client_cpu}, sizes {args.sizes}; load average {load_average()}; "
        f"scheduling: {state['scheduling']}"
    )
    unavailable = {}
    for row in args.rows:
        _, missing = SERVERS[row].resolve()
        if missing:
            unavailable[row] = missing
            print(f"  {row:>18}: {missing}")
    results, failed = await measure_rows(args, unavailable)
    targets = verdicts(results)
    for row, item in targets.items():
        print(
            f"  target: {row} <= {item['target']:g} KiB/connection at 10,000: "
            f"{item['kib_per_connection']} ({'MET' if item['met'] else 'MISSED'})"
        )
    path = write_result(
        args.output,
        {
            **result_head("idle_memory", args, state),
            "parameters": {
                "settle_seconds": args.settle,
                "path": "/ws/echo",
                "browser_offer": BROWSER_OFFER,
                "browser_message_bytes": len(MESSAGE),
                "measure": "(median RSS of 3 reads after settle - RSS before connecting) / sockets; "
                "RSS of the server's whole process tree",
            },
            "rows": {row: SERVERS[row].describe for row in args.rows},
            "not_installed": unavailable,
            "failed": failed,
            "target": {"kib_per_connection_at_10000": TARGETS_KIB_AT_10000, "verdicts": targets},
            "results": results,
        },
    )
    print(f"written {os.path.relpath(path)}")


def parse_args(argv=None):
    parser = argument_parser(__doc__, "idle_memory")
    parser.add_argument("--sizes", default=[1000, 10000], type=lambda t: [int(n) for n in t.split(",") if n])
    parser.add_argument(
        "--rows",
        "--servers",
        dest="rows",
        default=list(IDLE_ROWS),
        type=names_from(SERVERS),
        help="comma-separated, from: " + ", ".join(SERVERS) + f" (default {','.join(IDLE_ROWS)})",
    )
    parser.add_argument("--settle", type=float, default=3.0)
    # 50 handshakes in flight: at 200 the raw `websockets` server with
    # compression reset connections whose handshakes it had queued too long.
    parser.add_argument("--concurrency", type=int, default=50)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
