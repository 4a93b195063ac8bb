"""PNG plots of the benchmark results in bench/results/*.json (the README
shows them). Each plot is drawn only when its result file exists:

- time_fanout.png: tick delivery latency (p50, p99, max) against sockets
  (from time_fanout_scale.json, the multi-size run of `make bench`);
- echo_throughput.png: /ws/echo messages/s, ours against the baselines;
- idle_memory.png: KiB per idle connection, each row of bench.idle_memory;
- soak_memory.png: each server's RSS over the soak.

Figures marked client-bound in a result are drawn hatched and labelled.

    .venv/bin/python -m bench.plots
"""

import argparse
import os

from bench.common import RESULTS, read_result


def new_figure(width, height):
    """A figure and its axes, drawn to files only (no pyplot, no display).
    matplotlib (requirements-bench.txt) is imported here so that --help
    works without it."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    return figure, figure.subplots()


def save(figure, name):
    path = RESULTS / f"{name}.png"
    figure.tight_layout(rect=(0, 0.04, 1, 1))  # room for the stamp line
    figure.savefig(path, dpi=110)
    print(f"written {os.path.relpath(path)}")
    return path


def stamp(axes, data):
    """When, which commit, how busy the machine was: under the plot."""
    machine = data.get("machine", {})
    axes.figure.text(
        0.01,
        0.01,
        f"{data.get('command', '')}  |  {machine.get('started_utc', '')}, commit "
        f"{machine.get('git_commit')}, load average at start "
        f"{machine.get('load_average_at_start', ['?'])[0]}",
        fontsize=6,
        color="grey",
    )


def plot_time_fanout(data):
    """Ours: p50, p99 and max against sockets; each peer measured in the same
    run: its p99 (dashed)."""
    results = data["results"]
    ours = sorted((r for r in results if r.get("server", "ours") == "ours"), key=lambda r: r["sockets"])
    sockets = [r["sockets"] for r in ours]
    figure, axes = new_figure(7, 4.2)
    for key, style in (("p50_ms", "o-"), ("p99_ms", "s-"), ("max_ms", "^--")):
        axes.plot(sockets, [r[key] for r in ours], style, label=f"ours {key.replace('_ms', '')}")
    for name in sorted({r["server"] for r in results if r.get("server", "ours") != "ours"}):
        peer = sorted((r for r in results if r.get("server") == name), key=lambda r: r["sockets"])
        axes.plot([r["sockets"] for r in peer], [r["p99_ms"] for r in peer], "x:", label=f"{name} p99 (1 process)")
    for r in ours:
        note = f"lost {r['lost']}, dup {r['duplicated']}"
        if r["client_bound"]:
            note += "\nCLIENT-BOUND"
        axes.annotate(note, (r["sockets"], r["p99_ms"]), textcoords="offset points", xytext=(5, 8), fontsize=7)
    axes.axhline(300, color="grey", linestyle=":", label="target at 20,000: p99 300 ms")
    axes.axhline(100, color="lightgrey", linestyle=":", label="target to 10,000: p99 100 ms")
    layout = data.get("parameters", {}).get("server_cpus")
    cores = ", a core each" if layout and "/" in str(layout) else ""
    axes.set_xlabel(f"sockets on /ws/time; ours: {ours[0]['processes']} Daphne processes{cores} + Redis")
    axes.set_ylabel("tick delivery latency (ms)")
    axes.set_title("Time fan-out latency")
    axes.legend(fontsize=7)
    stamp(axes, data)
    return save(figure, "time_fanout")


def time_fanout_data():
    """The multi-size run of `make bench` (time_fanout_scale.json); else a
    plain time_fanout.json."""
    return read_result("time_fanout_scale") or read_result("time_fanout")


def plot_echo(data):
    summary = {name: row for name, row in data["summary"].items() if not row.get("not_installed")}
    names = list(summary)
    values = [summary[n]["median_messages_per_second"] for n in names]
    figure, axes = new_figure(8, 4.2)
    bars = axes.bar(names, values, color=["tab:blue" if n == "ours" else "tab:grey" for n in names])
    axes.tick_params(axis="x", labelsize=7)
    for bar, name in zip(bars, names, strict=True):
        row = summary[name]
        label = f"{bar.get_height():,.0f}/s\nclient CPU max {row['max_client_cpu_share']:.0%}"
        if row.get("client_bound_runs"):
            bar.set_hatch("//")
            label += f"\n{row['client_bound_runs']} run(s) client-bound"
        axes.annotate(
            label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=6
        )
    axes.set_ylim(top=max(value or 0 for value in values) * 1.25)  # room for the labels
    axes.set_ylabel("echo messages per second (median)")
    axes.set_title("/ws/echo throughput, 50 connections ping-pong")
    stamp(axes, data)
    return save(figure, "echo_throughput")


def plot_idle_memory(data):
    rows = [{**r, "server": r["row"]} for r in data["results"]]
    servers = list(dict.fromkeys(r["server"] for r in rows))
    sizes = sorted({r["sockets"] for r in rows})
    figure, axes = new_figure(6.5, 4)
    width = 0.8 / len(servers)
    for index, server in enumerate(servers):
        xs, heights = [], []
        for position, size in enumerate(sizes):
            match = [r for r in rows if r["server"] == server and r["sockets"] == size]
            if match:
                xs.append(position + index * width)
                heights.append(match[0]["kib_per_connection"])
        bars = axes.bar(xs, heights, width, label=server)
        for bar in bars:
            axes.annotate(
                f"{bar.get_height():.1f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    axes.axhline(16, color="grey", linestyle=":", label="target at 10,000: 16 KiB plain")
    axes.axhline(40, color="lightgrey", linestyle=":", label="40 KiB with a browser's offer")
    axes.set_xticks([p + width * (len(servers) - 1) / 2 for p in range(len(sizes))])
    axes.set_xticklabels([f"{s:,} sockets" for s in sizes])
    axes.set_ylabel("RSS growth per idle connection (KiB)")
    axes.set_title("Idle memory per connection")
    axes.set_ylim(top=max(r["kib_per_connection"] for r in rows) * 1.35)  # room for the legend
    axes.legend(fontsize=8, ncol=2, loc="upper center")
    stamp(axes, data)
    return save(figure, "idle_memory")


def plot_soak(data):
    samples = data["samples"]
    times = [s["t"] / 60 for s in samples]
    figure, axes = new_figure(7, 4)
    for index in range(len(samples[0]["rss_mib"])):
        axes.plot(times, [s["rss_mib"][index] for s in samples], ".-", label=f"server {index}")
    warmup = data["parameters"]["warmup"] / 60
    axes.axvline(warmup, color="grey", linestyle=":", label="end of warm-up")
    verdict = "no upward trend" if data["no_upward_trend"] else "rises"
    slopes = ", ".join(f"{t['slope_mib_per_minute']:+.2f}" for t in data["trend_after_warmup"] if t)
    last_half = data.get("trend_last_half") or []
    half_slopes = ", ".join(f"{t['slope_mib_per_minute']:+.2f}" for t in last_half if t)
    half_verdict = "no upward trend" if data.get("no_upward_trend_last_half") else "rises"
    axes.set_xlabel("minutes")
    axes.set_ylabel("RSS (MiB)")
    busy = data.get("client_cpu_share_max") or 0
    axes.set_title(
        f"Soak: mixed load, RSS every {data['parameters']['interval']:g} s\n"
        f"after warm-up: {verdict} ({slopes} MiB/min); last half: {half_verdict} "
        f"({half_slopes} MiB/min); client CPU max {busy:.0%}"
        f"{' CLIENT-BOUND' if data.get('client_bound') else ''}",
        fontsize=8,
    )
    axes.legend(fontsize=8)
    axes.set_ylim(bottom=0)
    stamp(axes, data)
    return save(figure, "soak_memory")


def main():
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    made = []
    for name, draw in (
        ("time_fanout", plot_time_fanout),
        ("echo_throughput", plot_echo),
        ("idle_memory", plot_idle_memory),
        ("soak", plot_soak),
    ):
        data = time_fanout_data() if name == "time_fanout" else read_result(name)
        if data is None:
            print(f"no {name}.json yet: skipped")
            continue
        made.append(draw(data))
    return made


if __name__ == "__main__":
    main()
