"""The figures of `make bench` in one table: each peer row and each target,
with its ratio or verdict and the command that made it, read from the
result files in bench/results/ (the README's and docs' figures come from
here). Nothing is measured.

    .venv/bin/python -m bench.summary [--markdown]
"""

import argparse

from bench.common import RESULTS, read_result
from bench.peers.registry import ECHO_ROWS, FANOUT_ROWS, IDLE_ROWS

FANOUT_TARGETS = {10000: 100.0, 20000: 300.0}  # sockets over 2 processes: p99 ms
IDLE_TARGETS = {"ours": 16.0, "ours+browser": 40.0}  # KiB per connection at 10,000


def number(value, unit=""):
    if value is None:
        return "n/a"
    return f"{value:,.0f}{unit}" if abs(value) >= 100 else f"{value:,.1f}{unit}"


def verdict(met):
    return "MET" if met else "MISSED"


def failed_rows(what, data):
    """A row per server and size that a benchmark recorded as failed
    (`data["failed"]`: {server: {sockets: reason}})."""
    return [
        (what, f"{name}, {int(sockets):,} sockets", f"failed: {reason}", "", "")
        for name, sizes in data.get("failed", {}).items()
        for sockets, reason in sizes.items()
    ]


def echo_rows(data):
    rows = []
    summary = data.get("summary", {})
    ratios = data.get("ratios", {})
    client = data.get("parameters", {}).get("client", "")
    for name, item in summary.items():
        if item.get("not_installed"):
            rows.append(("echo msg/s", name, item["not_installed"], "", ""))
            continue
        figure = number(item.get("median_messages_per_second"), " msg/s")
        if item.get("client_bound_runs"):
            figure += f" (client-bound in {item['client_bound_runs']} runs: a floor)"
        ratio = ratios.get(f"ours/{name}")
        target = data.get("target", {}).get(f"ours/{name}")
        note = "" if ratio is None else f"ours/{name} {ratio}x"
        if target is not None and ratio is not None:
            note += f", target >= {target}x: {verdict(ratio >= target)}"
        rows.append(("echo msg/s", name, figure, note, ""))
    rows += [("echo msg/s", name, "not measured in this file", "", "") for name in ECHO_ROWS if name not in summary]
    if client:
        rows.append(("echo msg/s", "(load client)", client.split(" (")[0], "", ""))
    return rows


def fanout_rows(data):
    """Ours at each size against its target; each peer (one process, no
    Redis; ours is 2 processes with Redis) with the ratio of ours to it."""
    rows = []
    results = data.get("results", [])
    ours = {r["sockets"]: r for r in results if r.get("server", "ours") == "ours"}
    for result in sorted(results, key=lambda r: (r["sockets"], r.get("server", "ours") != "ours")):
        sockets = result["sockets"]
        name = result.get("server", "ours")
        processes = result.get("processes", 2)
        read = f" (read {number(result['read_p99_ms'], ' ms')})" if result.get("read_p99_ms") is not None else ""
        figure = (
            f"p99 {number(result['p99_ms'], ' ms')}{read}, lost {result['lost']}, dup {result['duplicated']}"
            f"{', CLIENT-BOUND' if result.get('client_bound') else ''}"
        )
        note = ""
        target = FANOUT_TARGETS.get(sockets) if name == "ours" else None
        if target is not None:
            met = (
                result["p99_ms"] is not None
                and result["p99_ms"] <= target
                and not result["lost"]
                and not result["duplicated"]
            )
            note = (
                f"p99/target {result['p99_ms'] / target:.2f}, target <= {target:g} ms: {verdict(met)}"
                if result["p99_ms"] is not None
                else f"target <= {target:g} ms: MISSED"
            )
        elif name != "ours" and sockets in ours and ours[sockets]["p99_ms"] and result["p99_ms"]:
            note = f"p99 ours/{name} {ours[sockets]['p99_ms'] / result['p99_ms']:.2f}x (lower is better for ours)"
        rows.append(("time fan-out", f"{name}, {sockets:,} sockets / {processes} proc", figure, note, ""))
    for name, reason in data.get("not_installed", {}).items():
        rows.append(("time fan-out", name, reason, "", ""))
    rows += failed_rows("time fan-out", data)
    measured = (
        {r.get("server", "ours") for r in results} | set(data.get("not_installed", {})) | set(data.get("failed", {}))
    )
    rows += [
        ("time fan-out", name, "not measured in this file", "", "") for name in FANOUT_ROWS if name not in measured
    ]
    for sockets, target in FANOUT_TARGETS.items():
        if sockets not in ours:
            rows.append(
                (
                    "time fan-out",
                    f"ours, {sockets:,} sockets",
                    "not measured in this file",
                    f"target <= {target:g} ms",
                    "",
                )
            )
    return rows


def idle_rows(data):
    rows = []
    for row, reason in data.get("not_installed", {}).items():
        rows.append(("idle KiB/conn", row, reason, "", ""))
    rows += failed_rows("idle KiB/conn", data)
    results = data.get("results", [])
    largest = max((r["sockets"] for r in results), default=None)
    for result in results:
        if result["sockets"] != largest:
            continue
        name = result["row"]
        target = IDLE_TARGETS.get(name) if largest == 10000 else None
        figure = number(result["kib_per_connection"], " KiB")
        if result.get("offer"):
            figure += f" ({result.get('negotiated_compression')} of {result['sockets']} compressed)"
        note = ""
        if target is not None:
            note = (
                f"{result['kib_per_connection'] / target:.2f} of target, <= {target:g} KiB: "
                f"{verdict(result['kib_per_connection'] <= target)}"
            )
        rows.append(("idle KiB/conn", f"{name} at {largest:,}", figure, note, ""))
    listed = {result["row"] for result in results} | set(data.get("not_installed", {})) | set(data.get("failed", {}))
    rows += [("idle KiB/conn", row, "not measured in this file", "", "") for row in IDLE_ROWS if row not in listed]
    measured = {result["row"] for result in results if result["sockets"] == 10000}
    for name, target in IDLE_TARGETS.items():
        if name not in measured:
            rows.append(
                ("idle KiB/conn", f"{name} at 10,000", "not measured in this file", f"target <= {target:g} KiB", "")
            )
    return rows


def compression_rows(data):
    """The project default's idle memory per socket (beside the plain
    connections of the same run) and its ratios on the project's messages."""
    rows = []
    chosen = data.get("project_default", "default")
    label = "project default"
    parameters = data.get("parameter_sets", {}).get(chosen, {}).get("label", chosen)
    memory = {r["parameter_set"]: r for r in data.get("memory", {}).get("results", [])}
    if chosen in memory:
        result = memory[chosen]
        figure = (
            f"{number(result['kib_per_connection'], ' KiB')} at {result['sockets']:,} sockets "
            f"({result['negotiated_compression']} compressed)"
        )
        plain = memory.get("plain")
        note = parameters
        if plain is not None:
            note = (
                f"plain {number(plain['kib_per_connection'], ' KiB')}, "
                f"{result['kib_per_connection'] - plain['kib_per_connection']:+.1f} KiB; {parameters}"
            )
        rows.append(("deflate KiB", label, figure, note, ""))
    else:
        rows.append(("deflate KiB", label, "not measured in this file", "", ""))
    ratios = data.get("ratios", {})
    row = ratios.get("results", {}).get(chosen)
    if row is not None:
        sizes = {
            kind: f"{item['bytes_min']}-{item['bytes_max']}"
            if item["bytes_min"] != item["bytes_max"]
            else str(item["bytes_min"])
            for kind, item in ratios.get("messages", {}).items()
        }
        figure = ", ".join(
            f"{kind} ({sizes.get(kind)} B) {row[kind]:.2f}" for kind in ("mouse", "tick", "chat", "echo500")
        )
        rows.append(("deflate ratio", label, figure, "payload bytes on the wire / JSON bytes", ""))
    else:
        rows.append(("deflate ratio", label, "not measured in this file", "", ""))
    return rows


def c100k_rows(data):
    """The sockets on one port against each of the C100K targets."""
    result, target = data.get("result", {}), data.get("target", {})
    figure = (
        f"{result.get('sockets', 0):,} sockets, {result.get('server_processes')} processes on one port: "
        f"p99 {number(result.get('p99_ms'), ' ms')} (read {number(result.get('read_p99_ms'), ' ms')}), "
        f"lost {result.get('lost')}, broken {result.get('connections_closed_by_server')}"
        # Why, by the servers' own count (files from before it have none).
        + (f" ({result['server_closes']['keepalive_drops']} keepalive drops), " if "server_closes" in result else ", ")
        + f"RSS {number(result.get('server_rss_mib_total'), ' MiB')} in all"
    )
    checks = result.get("checks", {})
    note = ", ".join(f"{key} <= {target.get(key)}: {verdict(ok)}" for key, ok in checks.items())
    return [("c100k", "ours", figure, note, "")]


def describe_layout(data):
    layout = data.get("layout")
    if layout is None:
        return "not recorded in this file (before layouts were recorded; see the parameters)"
    return (
        f"servers on CPU {layout.get('server_cpus')}, client on CPU {layout.get('client_cpu')} at niceness "
        f"{layout.get('client_nice')}, {layout.get('scheduling')}; clients {layout.get('clients')}"
    )


SOURCES = (
    ("echo_throughput", echo_rows),
    ("time_fanout_scale", fanout_rows),
    ("idle_memory", idle_rows),
    ("compression", compression_rows),
    ("c100k", c100k_rows),
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (for the README)")
    args = parser.parse_args(argv)
    for name, rows_of in SOURCES:
        data = read_result(name)
        print()
        if data is None:
            print(f"{name}: no bench/results/{name}.json yet")
            continue
        machine = data.get("machine", {})
        scheduling = machine.get("scheduling") or f"BENCH_SCHED={machine.get('bench_sched')}"
        print(
            f"{name} ({RESULTS.name}/{name}.json, {machine.get('started_utc')}, commit "
            f"{machine.get('git_commit')}, {scheduling}, load average {machine.get('load_average_at_start')})"
        )
        print(f"  command: {data.get('command')}")
        print(f"  layout: {describe_layout(data)}")
        rows = rows_of(data)
        if args.markdown:
            print("\n| what | row | figure | ratio / target |\n|---|---|---|---|")
            for what, row, figure, note, _ in rows:
                print(f"| {what} | {row} | {figure} | {note} |")
        else:
            for what, row, figure, note, _ in rows:
                print(f"  {what:14s} {row:32s} {figure:44s} {note}")


if __name__ == "__main__":
    main()
