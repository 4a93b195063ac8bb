"""Shared by the benchmarks: scheduling and pinning, CPU shares, the
machine's state and the layout, reading and writing result files."""

import json
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable

# A figure is "client-bound" (and does not count) when the load client used
# more than this share of its core.
CLIENT_BOUND_SHARE = 0.80


def load_average():
    return [round(value, 2) for value in os.getloadavg()]


def pin_self(cpu, nice=0):
    """Pin this (client) process to one core, so the server's core is its own,
    and give it the benchmark's priority (raise_priority below). `nice` > 0
    instead makes a client that shares the servers' cores yield to them."""
    global CLIENT_SCHEDULING
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    if nice:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    CLIENT_SCHEDULING = raise_priority()


CLIENT_SCHEDULING = None  # what pin_self applied, for the result files


# How the benchmarked processes (every server alike, and the load client) are
# scheduled, from BENCH_SCHED:
# - none (the default): the ordinary scheduler, as started. Headline figures
#   are taken this way, the way a user's server runs.
# - fifo (needs root; an option, labelled in the output and result files):
#   SCHED_FIFO priority 10. They run whenever runnable; Linux still keeps 5%
#   of each core for everything else (sched_rt_runtime_us). On a shared
#   machine other work competes for both cores, and under the ordinary
#   scheduler a server pinned to core 0 was measured waiting in the run queue
#   5x longer than it ran; fifo shows what the server does when it gets its
#   core. Only for short runs: a long run under SCHED_FIFO squeezes everything
#   else on the machine.
# - nice: niceness BENCH_NICE and, on Linux 6.12+ (EEVDF), a short slice
#   BENCH_SLICE_US so they are picked promptly when woken. With autogroup
#   scheduling niceness only counts within a session.
# Falls back fifo -> nice -> none where not permitted; the result files
# record what was in effect.
BENCH_SCHED = os.environ.get("BENCH_SCHED") or "none"
SCHEDULING_LABELS = {
    "none": "ordinary scheduler (BENCH_SCHED=none)",
    "fifo": "SCHED_FIFO (BENCH_SCHED=fifo, not the ordinary scheduler)",
    "nice": "niceness and short slice (BENCH_SCHED=nice, not the ordinary scheduler)",
}


def scheduling_label():
    """How the benchmarked processes were scheduled, in words, for the output
    and the result files."""
    return SCHEDULING_LABELS.get(BENCH_SCHED, f"BENCH_SCHED={BENCH_SCHED}")


BENCH_NICE = int(os.environ.get("BENCH_NICE", "-10"))
BENCH_SLICE_US = int(os.environ.get("BENCH_SLICE_US", "100"))
SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}.get(platform.machine())


def set_short_slice(nice, slice_us):
    """sched_setattr(2) with SCHED_OTHER, `nice` and a custom slice."""
    import ctypes
    import struct

    libc = ctypes.CDLL(None, use_errno=True)
    # struct sched_attr, version 1 (56 bytes): size, policy, flags, nice,
    # priority, runtime (the requested slice, in ns), deadline, period,
    # util_min, util_max.
    attr = struct.pack("=IIQiIQQQII", 56, 0, 0, nice, 0, slice_us * 1000, 0, 0, 0, 0)
    if libc.syscall(SCHED_SETATTR, 0, ctypes.create_string_buffer(attr), 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def raise_priority():
    """Apply BENCH_SCHED (see above) to this process where permitted; returns
    what is in effect."""
    applied = {"nice": None, "slice_us": None, "policy": "SCHED_OTHER"}
    if BENCH_SCHED == "none":
        applied["nice"] = os.getpriority(os.PRIO_PROCESS, 0)
        return applied
    if BENCH_SCHED == "fifo":
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
            applied["policy"] = "SCHED_FIFO 10"
            return applied
        except OSError:
            pass
    if BENCH_SLICE_US and SCHED_SETATTR and sys.platform.startswith("linux"):
        try:
            set_short_slice(BENCH_NICE, BENCH_SLICE_US)
            applied["slice_us"] = BENCH_SLICE_US
        except OSError:
            pass  # older kernel or not permitted: niceness alone below
    if BENCH_NICE and applied["slice_us"] is None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, BENCH_NICE)
        except OSError:
            pass
    applied["nice"] = os.getpriority(os.PRIO_PROCESS, 0)
    return applied


def raise_open_file_limit(wanted):
    """Raise the soft open-file limit towards `wanted`, and the hard limit
    where permitted; servers started afterwards inherit it. Returns the new
    soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and wanted > hard:
        try:  # permitted for root (CAP_SYS_RESOURCE), up to fs.nr_open
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, wanted))
            hard = wanted
        except (OSError, ValueError):
            pass
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def competing_processes():
    """Other user processes that run under a real-time policy (other
    benchmarks using SCHED_FIFO) or look like benchmarks or servers: while
    they run, figures from this machine are not trustworthy. Returns short
    descriptions."""
    import psutil

    mine = {os.getpid()}
    try:
        this = psutil.Process()
        mine.update(child.pid for child in this.children(recursive=True))
        # and what started it (`flock ... python -m bench.x`, make)
        mine.update(parent.pid for parent in this.parents())
    except psutil.Error:
        pass
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        pid = process.info["pid"]
        cmdline = process.info["cmdline"] or []
        if pid in mine or not cmdline:  # kernel threads have no command line
            continue
        text = " ".join(cmdline)
        try:
            realtime_policy = os.sched_getscheduler(pid) in (os.SCHED_FIFO, os.SCHED_RR)
        except OSError:
            continue
        if realtime_policy or "bench/" in text or "bench." in text:
            found.append(f"{pid} {'SCHED_FIFO ' if realtime_policy else ''}{text[:100]}")
    return found


def package_versions(*names):
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def git_commit():
    """The commit measured, with "+changes" when the code (anything but the
    result files) differed from it."""
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/results"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+changes" if commit and changed else commit


def machine_state():
    return {
        "started_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_average_at_start": load_average(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "packages": package_versions(
            "daphne", "channels", "channels-redis", "Django", "uvloop", "Twisted", "websockets"
        ),
        "note": "other processes may share this machine; the load average says how busy it was",
        "bench_sched": BENCH_SCHED,
        "scheduling": scheduling_label(),
        "competing_processes_at_start": competing_processes(),
        "client_scheduling": CLIENT_SCHEDULING,
    }


class ClientCpu:
    """CPU time of this (single-threaded) client process over a window."""

    def __init__(self):
        self.reset()

    @staticmethod
    def cpu_seconds():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def reset(self):
        self.cpu0 = self.cpu_seconds()
        self.wall0 = time.monotonic()

    def share(self):
        wall = time.monotonic() - self.wall0
        return (self.cpu_seconds() - self.cpu0) / wall if wall > 0 else 0.0


def server_environment(**overrides):
    """The environment of a benchmarked server: production-like Django (DEBUG
    off, a throwaway secret), a throwaway SQLite file, quiet logs, no Redis
    unless given."""
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "CHANNEL_LAYER_PREFIX")}
    scratch = Path(tempfile.gettempdir()) / f"bench-{os.getpid()}.sqlite3"
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
            "DATABASE_URL": f"sqlite:///{scratch}",
            "REALTIME_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({key: str(value) for key, value in overrides.items()})
    migrate_once(env)
    return env


_migrated = set()


def migrate_once(env):
    """The app's tables in the scratch database (the tracing recorder writes
    to one), once per database per benchmark process."""
    url = env["DATABASE_URL"]
    if url in _migrated:
        return
    result = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"migrating the benchmark database failed:\n{result.stdout}{result.stderr}")
    _migrated.add(url)


def median(values):
    """statistics.median, or None when there is nothing to count (e.g. every
    run was client-bound)."""
    values = list(values)
    return statistics.median(values) if values else None


def percentile(values, fraction):
    """The `fraction` quantile (0.5 for p50, 0.99 for p99) by
    statistics.quantiles's inclusive method; None for no values."""
    values = list(values)
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def write_result(name, data):
    """bench/results/<name>.json; every result file says its layout (runner.layout)."""
    if "layout" not in data:
        raise ValueError(f"result {name} has no layout: where the servers and the client ran, and how scheduled")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def read_result(name):
    """The parsed bench/results/<name>.json (a name may include history/), or None."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def install_uvloop():
    try:
        import uvloop
    except ImportError:
        return False
    import asyncio

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
