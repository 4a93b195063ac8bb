"""py-spy profiles of a running server: record for a window, then keep the
sample counts by frame (self and inclusive) as a small text file beside the
result (the raw stacks are large and say the same thing to a reader).

    py-spy record --nonblocking -r RATE -d SECONDS -p PID -f raw -o RAW
"""

import collections
import subprocess
import sys
from pathlib import Path

from bench.common import RESULTS

RATE = 500  # samples a second
TOP = 30  # frames listed in each table


def paths(output):
    """(raw, top) files of the profile beside the result `output` (a name
    in bench/results/, as --output takes it): <output>.pyspy.raw, removed
    once summarised, and <output>.pyspy.top.txt."""
    base = RESULTS / output
    return base.with_name(base.name + ".pyspy.raw"), base.with_name(base.name + ".pyspy.top.txt")


def start(pid, seconds, raw_path, threads=False):
    """Start recording `pid` for `seconds` into `raw_path` (with `threads`,
    each stack under its thread's name); the Popen, or None (with a line
    saying why) when py-spy is not installed."""
    # Beside this interpreter (the bench venv's, installed from its lock),
    # whether or not that venv is on PATH.
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        print("  no profile: py-spy is not installed (requirements-bench.lock has it)", flush=True)
        return None
    command = [str(py_spy), "record", "--nonblocking", "-r", str(RATE), "-d", str(int(seconds)), "-p", str(pid)]
    if threads:
        command.append("--threads")
    return subprocess.Popen(
        [*command, "-f", "raw", "-o", str(raw_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def finish(recording, raw_path, top_path, title):
    """Wait for the recording and write its summary to `top_path`; the
    summary's text, or None when there was no recording."""
    if recording is None:
        return None
    _, errors = recording.communicate(timeout=120)
    raw_path = Path(raw_path)
    if not raw_path.exists():
        print(f"  no profile: py-spy wrote nothing ({errors.decode(errors='replace').strip()[-200:]})", flush=True)
        return None
    text = summarise(raw_path.read_text().splitlines(), title)
    Path(top_path).write_text(text)
    raw_path.unlink()
    return text


def summarise(lines, title):
    """The sample counts of py-spy's raw output ("frame;frame;... count"
    lines) by frame: where the samples were taken, and what was on the stack;
    by thread too when the stacks start with one ("thread (tid): name", from
    --threads). py-spy samples a thread only while it runs, not while it
    waits, so that table compares how busy each thread was."""
    own, on_stack, by_thread, total = collections.Counter(), collections.Counter(), collections.Counter(), 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if frames[0].startswith("thread ("):
            # The tid changes every run; the name is what a reader compares.
            by_thread[frames[0].partition(": ")[2] or frames[0]] += int(count)
            frames = frames[1:] or ["(no Python frame)"]
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            on_stack[frame] += int(count)
    out = [title, f"{total} samples in all ({RATE} a second)", ""]
    tables = [("self time: where the samples were taken", own), ("on the stack", on_stack)]
    if by_thread:
        tables.insert(0, ("by thread", by_thread))
    for heading, counter in tables:
        out.append(heading)
        out.append("")
        for frame, count in counter.most_common(TOP):
            out.append(f"{100 * count / max(total, 1):5.1f}% {count:8d}  {frame}")
        out.append("")
    return "\n".join(out)
