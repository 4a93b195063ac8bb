"""`make conformance`: the Autobahn TestSuite fuzzing client, every case
(1.* to 13.*, compression included), against /ws/echo on a real Daphne started
with `python -m realtime.server`, as in production.

The suite's largest messages are 16 MiB, so this run raises both limits that
would otherwise close them with 1009: Daphne's --websocket-max-message-size
(and frame size) and REALTIME_ECHO_MAX_MESSAGE_BYTES. Everything else (rate
limit, compression on, inbound queue) stays at its default.

Writes the HTML report to reports/autobahn/ (index.html links one wstest
report per group of cases), prints the count of each behaviour, and exits 1
unless every case is OK or INFORMATIONAL (NON-STRICT, UNIMPLEMENTED and
FAILED all fail the run: the server answers the good frames before a bad
one, realtime/server/strict.py).
"""

import argparse
import collections
import html
import json
import os
import queue
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.support.ports import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
SUITE_LIMIT = 16 * 1024 * 1024
ACCEPTED = {"OK", "INFORMATIONAL"}


def summarize(index_path, agent):
    results = json.loads(index_path.read_text())[agent]
    behaviours = collections.Counter()
    close_behaviours = collections.Counter()
    bad = []
    for case, result in sorted(results.items(), key=lambda item: [int(p) for p in item[0].split(".")]):
        behaviours[result["behavior"]] += 1
        close_behaviours[result["behaviorClose"]] += 1
        if result["behavior"] not in ACCEPTED or result["behaviorClose"] not in ACCEPTED:
            bad.append((case, result["behavior"], result["behaviorClose"]))
    return results, behaviours, close_behaviours, bad


# Groups run as separate wstest jobs on several workers, each with its own
# Daphne: a case is one client waiting on one server, so one worker keeps
# about one core busy with gaps. Three workers on this 2-core machine: 555 s
# against 595 s with two, for the same CPU-seconds (both on a busy machine). The compression groups are the slow part
# (1000 messages of up to 128 KiB per case, some in 256-byte fragments).
# Slowest first (measured), so no long group starts last and runs alone.
GROUPS = (
    ["12.5.*", "12.3.*", "12.2.*"]
    + [f"13.{n}.*" for n in range(1, 8)]
    + [
        "12.4.*",
        "12.1.*",
        "1.*,2.*,3.*,4.*,5.*,6.*,7.*,8.*,9.*,10.*,11.*",
    ]
)


def start_daphne(log_path, work):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "REALTIME_ECHO_MAX_MESSAGE_BYTES": str(SUITE_LIMIT),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)  # /ws/echo needs no channel layer
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "realtime.server",
            "-v",
            "0",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "--websocket-max-message-size",
            str(SUITE_LIMIT),
            "--websocket-max-frame-size",
            str(SUITE_LIMIT),
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=open(log_path, "wb"),
        stderr=subprocess.STDOUT,
    )
    if not wait_for_port(port, timeout=20.0, process=server):
        server.kill()
        sys.exit(f"Daphne did not start; see {log_path}")
    return server, port


def run_job(wstest, outdir, work, port, index, cases):
    groups = [pattern.removesuffix(".*") for pattern in cases.split(",")]
    label = groups[0] if len(groups) == 1 else f"{groups[0]}-{groups[-1]}"
    job_dir = outdir / f"cases-{label}"
    spec = {
        "outdir": str(job_dir),
        "servers": [{"agent": AGENT, "url": f"ws://127.0.0.1:{port}/ws/echo"}],
        "cases": cases.split(","),
        "exclude-cases": [],
        "exclude-agent-cases": {},
    }
    spec_path = work / f"fuzzingclient-{index:02d}.json"
    spec_path.write_text(json.dumps(spec, indent=2))
    with open(outdir / f"wstest-{index:02d}.log", "wb") as log:
        result = subprocess.run(
            [str(wstest), "-m", "fuzzingclient", "-s", str(spec_path)], cwd=work, stdout=log, stderr=subprocess.STDOUT
        )
    if result.returncode != 0 or not (job_dir / "index.json").exists():
        return None, f"wstest failed on {cases} (exit {result.returncode}); see {outdir / f'wstest-{index:02d}.log'}"
    return job_dir, None


def select_groups(cases):
    """The groups of GROUPS narrowed to `cases` ("12.*,13.*" -> 12.5.*, 12.3.*,
    ... 13.7.*, so they run in parallel as in a full run); a pattern no group
    covers (a single case, "9.1.*") runs as a group of its own."""
    wanted = [pattern.strip() for pattern in cases.split(",") if pattern.strip()]

    def covers(pattern, part):
        if pattern == part:
            return True
        return pattern.endswith(".*") and part.startswith(pattern.removesuffix("*"))

    groups, used = [], set()
    for group in GROUPS:
        parts = [part for part in group.split(",") if any(covers(pattern, part) for pattern in wanted)]
        used.update(pattern for pattern in wanted for part in parts if covers(pattern, part))
        if parts:
            groups.append(",".join(parts))
    return groups + [pattern for pattern in wanted if pattern not in used]


AGENT = "realtime-daphne"
FULL_SUITE_CASES = 517  # autobahntestsuite 25.10.1, 1.* to 13.*


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wstest", default=str(ROOT / ".autobahn-venv" / "bin" / "wstest"))
    parser.add_argument("--outdir", default=str(ROOT / "reports" / "autobahn"))
    parser.add_argument(
        "--cases",
        default=None,
        help="comma-separated case patterns, e.g. '12.*,13.*' (default: all); split into the same groups as a full run",
    )
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("AUTOBAHN_JOBS", "3")))
    args = parser.parse_args()

    wstest = Path(args.wstest).resolve()  # wstest runs in a scratch folder
    if not wstest.exists():
        sys.exit(f"no wstest at {wstest}: run scripts/ensure-autobahn.sh first (make conformance does)")
    outdir = Path(args.outdir).resolve()
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="autobahn-"))
    database_url = f"sqlite:///{work / 'db.sqlite3'}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)

    groups = select_groups(args.cases) if args.cases else GROUPS
    pending = queue.Queue()
    for index, cases in enumerate(groups, 1):
        pending.put((index, cases))
    job_dirs, errors, servers = [], [], []

    def worker(number):
        try:
            server, port = start_daphne(outdir / f"daphne-{number}.log", work)
            servers.append(server)
            while True:
                try:
                    index, cases = pending.get_nowait()
                except queue.Empty:
                    return
                job_dir, error = run_job(wstest, outdir, work, port, index, cases)
                (job_dirs if job_dir else errors).append(job_dir or error)
        except BaseException as error:  # SystemExit from start_daphne too
            errors.append(f"worker {number} failed: {error!r}")

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, max(1, args.jobs) + 1)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    # CPU of every wstest and Daphne (all waited for): on a busy machine the
    # wall time says little; this says how much work the run was.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = children.ru_utime + children.ru_stime
    if errors or not pending.empty():
        sys.exit("\n".join(errors) or "some groups of cases never ran")

    results, behaviours, close_behaviours, bad = {}, collections.Counter(), collections.Counter(), []
    job_dirs.sort(key=lambda d: [int(n) for n in d.name.removeprefix("cases-").split("-")[0].split(".")])
    for job_dir in job_dirs:
        part, b, c, worse = summarize(job_dir / "index.json", AGENT)
        results.update(part)
        behaviours.update(b)
        close_behaviours.update(c)
        bad.extend(worse)
    write_index(outdir, job_dirs, behaviours, close_behaviours, len(results), elapsed)
    print(
        f"Autobahn TestSuite against /ws/echo: {len(results)} cases in {elapsed:.0f} s "
        f"({args.jobs} workers; {cpu_seconds:.0f} CPU-seconds in wstest, Daphne and migrate)"
    )
    print("  behaviour:       " + ", ".join(f"{k} {v}" for k, v in sorted(behaviours.items())))
    print("  close behaviour: " + ", ".join(f"{k} {v}" for k, v in sorted(close_behaviours.items())))
    print(f"  report: {outdir / 'index.html'}")
    (outdir / "summary.json").write_text(
        json.dumps(
            {
                "cases": len(results),
                "seconds": round(elapsed, 1),
                "cpu_seconds": round(cpu_seconds, 1),
                "behavior": behaviours,
                "behaviorClose": close_behaviours,
                "not_accepted": bad,
            },
            indent=2,
        )
    )
    if not args.cases and len(results) < FULL_SUITE_CASES:
        sys.exit(f"only {len(results)} of the suite's {FULL_SUITE_CASES} cases ran")
    if bad:
        for case, behaviour, close in bad[:50]:
            print(f"  NOT OK {case}: {behaviour} / close {close}")
        sys.exit(f"{len(bad)} case(s) not OK or INFORMATIONAL")


def write_index(outdir, job_dirs, behaviours, close_behaviours, count, elapsed):
    """One page linking each group's wstest report."""
    rows = "\n".join(f'<li><a href="{d.name}/index.html">{d.name}</a></li>' for d in job_dirs)
    counts = ", ".join(f"{html.escape(k)} {v}" for k, v in sorted(behaviours.items()))
    closes = ", ".join(f"{html.escape(k)} {v}" for k, v in sorted(close_behaviours.items()))
    (outdir / "index.html").write_text(
        f"<!doctype html><title>Autobahn TestSuite: /ws/echo</title><h1>Autobahn TestSuite against /ws/echo</h1>"
        f"<p>{count} cases in {elapsed:.0f} s. Behaviour: {counts}. Close behaviour: {closes}.</p>"
        f"<p>Each part is one wstest run (a group of cases):</p><ul>{rows}</ul>\n"
    )


if __name__ == "__main__":
    main()
