"""Tracing overhead: /ws/echo throughput with request tracing on
(REALTIME_TRACING=1, the default: a "websocket.Receive" trace per message, a
connection event log, the background writer) and the Prometheus metrics on,
against tracing and metrics off (REALTIME_TRACING=0, no metrics port),
measured in the same run.

Reuses bench.echo_throughput (its load client, Go or Python, its pinned
server start-up and CPU accounting): the same project server is started fresh
for every run with only REALTIME_TRACING changed, pinned to core 0, the client
on core 1; runs alternate on/off and the median of each is compared.

    .venv/bin/python -m bench.tracing_overhead [--duration 10] [--rounds 3]

Target: on/off >= 0.90, on throughput (the median msg/s of each).
Also printed: the server's CPU time per message, on and off, and their ratio
(off/on). When other work shares the machine and the server does not get its
core (server CPU well under 100%), msg/s measures the scheduler more than
the server; CPU time per message still measures what tracing costs.
"""

import os

from bench import echo_throughput as echo
from bench.common import (
    free_port,
    load_average,
    machine_state,
    median,
    server_environment,
    write_result,
)
from bench.runner import command_line, run

TARGET_RATIO = 0.90
OURS = echo.SERVERS["ours"]["argv"]

# The "on" server runs with everything an operator turns on: tracing and the
# Prometheus metrics (its own port); "off" with neither, so the ratio is what
# observability costs on the hot path.
echo.SERVERS["tracing-on"] = {
    "argv": OURS,
    "env": lambda: server_environment(REALTIME_TRACING="1", REALTIME_METRICS_PORT=str(free_port())),
    "describe": "realtime.server, EchoConsumer, REALTIME_TRACING=1 (every message and connection traced) "
                "and Prometheus metrics on (REALTIME_METRICS_PORT)",
}
echo.SERVERS["tracing-off"] = {
    "argv": OURS,
    "env": lambda: server_environment(REALTIME_TRACING="0"),
    "describe": "realtime.server, EchoConsumer, REALTIME_TRACING=0, no metrics",
}


async def main(args):
    state = machine_state()
    names = ["tracing-on", "tracing-off"]
    client = echo.choose_client(args)
    print(f"tracing overhead on /ws/echo: {args.connections} connections, {args.size}-byte text, "
          f"pipeline {args.pipeline}, {args.duration:g} s per run, {args.rounds} rounds")
    runs = []
    for round_index in range(args.rounds):
        order = names if round_index % 2 == 0 else list(reversed(names))
        for name in order:
            runs.append(await echo.run_once(name, args, round_index))
    summary = {}
    for name in names:
        mine = [run for run in runs if run["server"] == name]
        summary[name] = {
            "describe": echo.SERVERS[name]["describe"],
            "median_messages_per_second": median([run["messages_per_second"] for run in mine]),
            "runs_messages_per_second": [run["messages_per_second"] for run in mine],
            "max_client_cpu_share": max(run["client_cpu_share"] for run in mine),
            "client_bound_runs": sum(run["client_bound"] for run in mine),
            "median_server_cpu_us_per_message": median(
                [run["server_cpu_us_per_message"] for run in mine if run.get("server_cpu_us_per_message")]),
            "median_server_cpu_share": median([run["server_cpu_share"] for run in mine]),
        }
    on = summary["tracing-on"]["median_messages_per_second"]
    off = summary["tracing-off"]["median_messages_per_second"]
    ratio = round(on / off, 3) if on and off else None
    cost_on = summary["tracing-on"]["median_server_cpu_us_per_message"]
    cost_off = summary["tracing-off"]["median_server_cpu_us_per_message"]
    cpu_ratio = round(cost_off / cost_on, 3) if cost_on and cost_off else None
    print()
    for name in names:
        item = summary[name]
        print(f"  {name:12s} median {item['median_messages_per_second']:9.0f} msg/s  "
              f"runs {item['runs_messages_per_second']}"
              f"  client CPU <= {item['max_client_cpu_share']:.0%}"
              f"  server CPU ~{item['median_server_cpu_share']:.0%}, {item['median_server_cpu_us_per_message']} us/msg"
              + (f"  (CLIENT-BOUND runs: {item['client_bound_runs']})" if item["client_bound_runs"] else ""))
    verdict = "MET" if ratio is not None and ratio >= TARGET_RATIO else "MISSED"
    print(f"  ratio tracing-on/tracing-off: {ratio}x  target >= {TARGET_RATIO}x: {verdict}")
    print(f"  server CPU per message: on {cost_on} us, off {cost_off} us: off/on {cpu_ratio}x "
          f"(the throughput a saturated server keeps with tracing on)")
    command = command_line()
    path = write_result(args.output, {
        "benchmark": "tracing_overhead",
        "command": command,
        "machine": state,
        "load_average_at_end": load_average(),
        "parameters": {
            "connections": args.connections, "message_bytes": args.size, "pipeline": args.pipeline,
            "duration_seconds": args.duration, "warmup_seconds": args.warmup, "rounds": args.rounds,
            "server_cpu": args.server_cpus, "client_cpu": args.client_cpu, "client": client,
            "scheduling": state["scheduling"],
        },
        "summary": summary,
        "ratio_on_off": ratio,
        "cpu_per_message_ratio_off_on": cpu_ratio,
        "target": TARGET_RATIO,
        "runs": runs,
    })
    print(f"written {os.path.relpath(path)}")


if __name__ == "__main__":
    run(main, echo.parse_args(output="tracing_overhead", servers="tracing-on,tracing-off"))
