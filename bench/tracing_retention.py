"""Trace retention: does a day of a busy mouse demo grow the database without
bound? A day, compressed: the real trace writer (realtime.tracing.Recorder.
write, the code a server's writer thread runs every second) and the real
purge (realtime.tracing.retention.purge_traces, run by the server every 10 s and by
`manage.py purgetraces`) store a day of traffic into a fresh SQLite file, with
the clock advanced one minute per step; the database is measured every hour.

Traffic per minute (defaults): 72,000 /ws/mouse messages (20 busy users at
60 mouse events a second), one in 5,000 a bad one (an error), 20 connections
opened and closed (event logs; one in 10 rejected), 30 page loads over 3 HTTP
routes.

    .venv/bin/python -m bench.tracing_retention [--minutes 1440] [--messages-per-minute 72000]

`--real-seconds N` instead runs a real server (realtime.server, tracing on,
default retention settings) for N seconds under the same kind of traffic
from real clients (20 sockets at 60 mouse events/s, each reconnecting every
30 s, a page load every 2 s) and samples its database every 10 s.

Expected: the row counts stop growing after the first hours (last N per
family and bucket, 2 h of per-minute histograms) and so does the file.
"""

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from pathlib import Path

from bench.common import ROOT, machine_state, server_environment, write_result
from bench.peers.registry import SERVERS
from bench.processes import Server
from bench.runner import argument_parser, result_head

MOUSE_MESSAGE = '{"x": 312, "y": 148}'


def set_up_django(scratch):
    """Django on a fresh SQLite file in this process, migrated; the tracing
    modules (imported only now, once Django is set up)."""
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from realtime import tracing

    tracing.AUTO_START_WRITER = False
    return tracing


def database_sample(minute, total_messages):
    from django.db import connection

    from realtime.models import EventLogRecord, LatencyHistogram, TraceRecord

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute("PRAGMA page_size")
        size = pages * cursor.fetchone()[0]
    sample = {
        "hour": round(minute / 60, 2),
        "messages_so_far": total_messages,
        "trace_rows": TraceRecord.objects.count(),
        "event_log_rows": EventLogRecord.objects.count(),
        "histogram_rows": LatencyHistogram.objects.count(),
        "database_bytes": size,
    }
    print(
        f"  hour {sample['hour']:5.1f}: {total_messages:>11,} messages so far   traces {sample['trace_rows']:4d}"
        f"   event logs {sample['event_log_rows']:3d}   histogram rows {sample['histogram_rows']:4d}"
        f"   database {size / 1024:8.1f} KiB",
        flush=True,
    )
    return sample


def record_messages(recorder, base, per_minute):
    step = 60.0 / per_minute
    record = recorder.record_message
    for i in range(per_minute):
        begin = base + i * step
        bad = i % 5000 == 4999
        record(
            "/ws/mouse",
            MOUSE_MESSAGE if not bad else '{"x": "a"}',
            begin,
            "decode error invalid_type: field 'x' must be an integer" if bad else None,
            bad,
            ended=begin + 0.00008 + (i % 7) * 0.00001,
        )


def connections_and_pages(tracing, recorder, base):
    """A minute's 20 connection event logs and 30 page-load traces, by end."""
    batch = []
    for i in range(20):
        log = tracing.EventLog(recorder, tracing.CONNECTION_FAMILY, f"/ws/mouse 127.0.0.1:{40000 + i}")
        recorder.active.discard(log)
        log.start, log.end = base + i * 3, base + i * 3 + 2.5
        log.printf("connect from 127.0.0.1:%d", 40000 + i)
        if i % 10 == 0:
            log.errorf("rejected: Origin http://evil.example is not an allowed origin")
        else:
            log.accepted, log.messages_in, log.messages_out = True, 150, 150
        log.last_error = log.start if log.errors else None
        batch.append(log)
    for i in range(30):
        trace = tracing.Trace(recorder, ("http.GET /", "http.GET /mouse/", "http.GET /static/<path>")[i % 3], "/")
        recorder.active.discard(trace)
        trace.start, trace.end = base + i * 2, base + i * 2 + 0.004 + (i % 5) * 0.03
        trace.log("status %d", 200)
        batch.append(trace)
    return sorted(batch, key=lambda item: item.end)


def simulate_day(args, tracing):
    """Every simulated minute through the writer and the purge; the hourly samples."""
    from realtime.tracing.retention import purge_traces

    recorder = tracing.Recorder(tracing.load_config())
    offset = time.time() - args.minutes * 60  # the simulated day ends now; wall = synthetic + offset
    samples = []
    for minute in range(args.minutes):
        base = minute * 60.0
        record_messages(recorder, base, args.messages_per_minute)
        batch = connections_and_pages(tracing, recorder, base)
        # What Recorder.flush does, with the simulated minute for the histograms.
        times, recorder.message_times = recorder.message_times, array("d")
        messages = recorder.drain(recorder.recent_messages) + recorder.drain(recorder.notable_messages)
        recorder.write(batch, offset, times, messages, minute=int((offset + base) // 60))
        # The server purges every 10 s; once a simulated minute is as often
        # as it matters here (retention keeps counts, not minutes).
        purge_traces(now=offset + base + 60)
        if (minute + 1) % 60 == 0 or minute == 0:
            samples.append(database_sample(minute + 1, (minute + 1) * args.messages_per_minute))
    return samples


def main(args):
    state = machine_state()
    scratch = Path(tempfile.mkdtemp()) / "retention.sqlite3"
    tracing = set_up_django(scratch)
    config = tracing.load_config()
    started = time.monotonic()
    samples = simulate_day(args, tracing)
    seconds = time.monotonic() - started
    total_messages = args.minutes * args.messages_per_minute
    after_hour_3 = [s for s in samples if s["hour"] >= 3]
    print(f"{total_messages:,} messages, {args.minutes} simulated minutes, in {seconds:.0f} s of real time")
    print(
        f"database after the day: {samples[-1]['database_bytes'] / 1024:.1f} KiB, "
        f"{samples[-1]['trace_rows']} traces, {samples[-1]['event_log_rows']} event logs, "
        f"{samples[-1]['histogram_rows']} histogram rows"
    )
    path = write_result(
        args.output,
        {
            **result_head(
                "tracing_retention",
                args,
                state,
                servers="none: the writer and purge code run in this process, unpinned",
            ),
            "parameters": {
                "minutes": args.minutes,
                "messages_per_minute": args.messages_per_minute,
                "connections_per_minute": 20,
                "page_loads_per_minute": 30,
                "keep": config["keep"],
                "max_age_seconds": config["max_age"],
            },
            "messages": total_messages,
            "samples": samples,
            "largest_database_bytes_after_hour_3": max(s["database_bytes"] for s in after_hour_3)
            if after_hour_3
            else None,
            "real_seconds": round(seconds, 1),
        },
    )
    print(f"written {os.path.relpath(path)}")
    scratch.unlink()


def server_database_sample(database, elapsed, sent):
    connection = sqlite3.connect(database, timeout=10)
    try:
        counts = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("realtime_tracerecord", "realtime_eventlogrecord", "realtime_latencyhistogram")
        }
        pages = (
            connection.execute("PRAGMA page_count").fetchone()[0] * connection.execute("PRAGMA page_size").fetchone()[0]
        )
    finally:
        connection.close()
    print(
        f"  {round(elapsed):4d} s: {sent:>8,} messages   traces {counts['realtime_tracerecord']:4d}"
        f"   event logs {counts['realtime_eventlogrecord']:3d}   histogram rows "
        f"{counts['realtime_latencyhistogram']:3d}   database {pages / 1024:7.1f} KiB",
        flush=True,
    )
    return {"seconds": round(elapsed), "messages_sent": sent, **counts, "database_bytes": pages}


async def mouse_user(port, index, stop, sent):
    """A user at 60 mouse events/s, reconnecting every 30 s; counts in sent[0]."""
    import websockets

    while not stop.is_set():
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/mouse") as socket:
            until = time.monotonic() + 30
            while time.monotonic() < until and not stop.is_set():
                await socket.send(json.dumps({"x": sent[0] % 500, "y": index}))
                await socket.recv()
                sent[0] += 1
                await asyncio.sleep(1 / 60)


async def page_loads(port, stop):
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        for path in ("/", "/mouse/"):
            url = f"http://127.0.0.1:{port}{path}"
            await loop.run_in_executor(None, lambda url=url: urllib.request.urlopen(url, timeout=5).read())
        await asyncio.sleep(2)


async def drive(args, port, database):
    stop, sent, samples = asyncio.Event(), [0], []
    tasks = [asyncio.ensure_future(mouse_user(port, i, stop, sent)) for i in range(20)]
    tasks.append(asyncio.ensure_future(page_loads(port, stop)))
    started = time.monotonic()
    while time.monotonic() - started < args.real_seconds:
        await asyncio.sleep(10)
        samples.append(server_database_sample(database, time.monotonic() - started, sent[0]))
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return samples


def real_server(args):
    state = machine_state()
    database = Path(tempfile.mkdtemp()) / "retention-real.sqlite3"
    env = server_environment(DATABASE_URL=f"sqlite:///{database}", REALTIME_TRACING="1")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    server = Server("retention", SERVERS["ours"].argv(), env, cpus=None)
    try:
        samples = asyncio.run(drive(args, server.port, database))
    finally:
        server.stop()
    path = write_result(
        args.output + "_real",
        {
            **result_head(
                "tracing_retention (real server)",
                args,
                state,
                servers="one realtime.server process, unpinned; its clients in this process",
            ),
            "samples": samples,
        },
    )
    print(f"written {os.path.relpath(path)}")


if __name__ == "__main__":
    parser = argument_parser(__doc__, "tracing_retention", client=False)
    parser.add_argument("--minutes", type=int, default=1440)
    parser.add_argument("--messages-per-minute", type=int, default=72000)
    parser.add_argument("--real-seconds", type=int, default=0)
    arguments = parser.parse_args()
    if arguments.real_seconds:
        real_server(arguments)
    else:
        main(arguments)
