"""Echo throughput: /ws/echo, N connections (default 50), 64-byte text
messages, ping-pong (each connection waits for its echo before sending the
next; `--pipeline K` keeps K in flight instead), for a fixed duration.

Servers (`--servers`, names from bench/peers/registry.py; default ours,
stock, stock-uvloop, uvicorn, granian, websockets, aiohttp, picows, gorilla),
each started fresh for every run, pinned to core 0 (`taskset -c 0`); a peer
that cannot run here ("not installed: ...") leaves its row saying so. One
load client for every row, pinned to core 1 (bench/echo_load.py).

Servers run alternately, `--rounds` times each (the order reverses every
round), and the median is reported, because other work may share the
machine; the load average is recorded at the start and around every run.
Scheduling: the ordinary one unless BENCH_SCHED says otherwise (bench/common.py).

    .venv/bin/python -m bench.echo_throughput [--duration 10] [--rounds 3] [--servers ours,websockets]

msg/s counts echoed messages received by the client (one round trip = one
message each way = 1 msg).
"""

import os

from bench.common import load_average, machine_state, write_result
from bench.echo_load import RATE_LIMIT, add_arguments, alternate, choose_client, medians, parameters
from bench.peers.registry import ECHO_ROWS, SERVERS
from bench.runner import argument_parser, names_from, result_head, run

# Targets: ours/stock >= 2.0 (kept from the first version of this benchmark)
# ours at least as fast as the raw `websockets` server, and (the next goal)
# as the raw aiohttp one.
TARGETS = {"ours/stock": 2.0, "ours/websockets": 1.0, "ours/aiohttp": 1.0}


def summarise(names, runs, unavailable):
    summary = {
        name: (
            {"describe": SERVERS[name].describe, "not_installed": unavailable[name], "median_messages_per_second": None}
            if name in unavailable
            else medians(SERVERS[name], runs)
        )
        for name in names
    }
    ratios = {}
    if "ours" not in summary or "ours" in unavailable:
        return summary, ratios
    ours = summary["ours"]["median_excluding_client_bound"]
    cost_ours = summary["ours"]["median_server_cpu_us_per_message"]
    for name in names:
        if name == "ours" or name in unavailable:
            continue
        theirs = summary[name]["median_messages_per_second"]
        ratios[f"ours/{name}"] = round(ours / theirs, 2) if ours and theirs else None
        # The same comparison in server CPU per message (theirs/ours).
        cost_theirs = summary[name]["median_server_cpu_us_per_message"]
        ratios[f"cpu_per_message_{name}/ours"] = (
            round(cost_theirs / cost_ours, 2) if cost_ours and cost_theirs else None
        )
    return summary, ratios


def print_summary(names, summary, ratios):
    print()
    print("median msg/s (client CPU share: max over runs):")
    for name in names:
        item = summary[name]
        if item.get("not_installed"):
            print(f"  {name:12s} {item['not_installed']}")
            continue
        flag = " (some runs CLIENT-BOUND, excluded for ours)" if item["client_bound_runs"] else ""
        print(
            f"  {name:12s} {item['median_messages_per_second']:9.0f} msg/s   client CPU <= "
            f"{item['max_client_cpu_share']:.0%}   server CPU ~{item['median_server_cpu_share']:.0%}"
            f", {item['median_server_cpu_us_per_message']} us/msg{flag}"
        )
    for key, value in ratios.items():
        if key.startswith("cpu_per_message"):
            continue
        target = TARGETS.get(key)
        verdict = ""
        if target is not None and value is not None:
            verdict = f"  target >= {target}x: " + ("MET" if value >= target else "MISSED")
        print(f"  ratio {key}: {value}x{verdict}")


def print_header(args, state, client):
    print(
        f"echo throughput: {args.connections} connections, {args.size}-byte text, "
        f"pipeline {args.pipeline}, {args.duration:g} s per run after {args.warmup:g} s warm-up, "
        f"{args.rounds} rounds; server on CPU {args.server_cpus}, client on CPU {args.client_cpu}: {client}"
    )
    print(
        f"load average at start: {state['load_average_at_start']} (other work may share this machine); "
        f"scheduling: {state['scheduling']} (client: {state['client_scheduling']})"
    )
    if state["competing_processes_at_start"]:
        print(
            "WARNING: other benchmark or real-time processes are running; they compete for the same cores "
            "and these figures may be meaningless:"
        )
        for line in state["competing_processes_at_start"]:
            print(f"    {line}")


async def main(args):
    state = machine_state()
    client = choose_client(args)
    print_header(args, state, client)
    unavailable = {}
    for name in args.servers:
        _, missing = SERVERS[name].resolve()
        if missing:
            unavailable[name] = missing
            print(f"  {name:12s} {missing}")
    runs = await alternate([SERVERS[name] for name in args.servers if name not in unavailable], args)
    summary, ratios = summarise(args.servers, runs, unavailable)
    print_summary(args.servers, summary, ratios)
    load_end = load_average()
    print(f"load average at end: {load_end}")
    path = write_result(
        args.output,
        {
            **result_head("echo_throughput", args, state),
            "parameters": {**parameters(args, client), "flood_limit_per_socket": RATE_LIMIT},
            "summary": summary,
            "ratios": ratios,
            "target": {key: value for key, value in TARGETS.items() if key in ratios},
            "runs": runs,
        },
    )
    print(f"written {os.path.relpath(path)}")


def parse_args(argv=None):
    parser = argument_parser(__doc__, "echo_throughput", duration=10.0, rounds=3)
    parser.add_argument(
        "--servers",
        default=list(ECHO_ROWS),
        type=names_from(SERVERS),
        help="comma-separated, from: " + ", ".join(SERVERS) + f" (default {','.join(ECHO_ROWS)})",
    )
    add_arguments(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
