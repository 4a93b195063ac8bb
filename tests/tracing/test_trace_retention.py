"""Trace retention without a server: purgetraces keeps the newest per
family and bucket (errors too), its options and output, and the writer
stores only what retention keeps while its histograms count everything
(on the pytest-django database)."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from realtime import tracing


def make_records(model, family, bucket, count, start, is_error=False, step=1.0):
    rows = [
        model(
            family=family,
            title=f"{family} #{i}",
            started_at=start + timedelta(seconds=i * step),
            elapsed=tracing.BUCKET_BOUNDS[bucket],
            bucket=bucket,
            is_error=is_error,
            events=[],
        )
        for i in range(count)
    ]
    model.objects.bulk_create(rows)


@pytest.mark.django_db
def test_purgetraces_keeps_the_newest_per_family_and_bucket_and_errors(settings):
    from realtime.models import TraceRecord

    settings.REALTIME_TRACE_KEEP = 10
    now = datetime.now(UTC)
    start = now - timedelta(hours=1)
    make_records(TraceRecord, "fam.A", 0, 25, start)
    make_records(TraceRecord, "fam.A", 3, 15, start)
    # Older errors in bucket 0: the newest 10 errors of the family survive even
    # though newer successes push them out of the bucket's 10.
    make_records(TraceRecord, "fam.A", 0, 12, start - timedelta(minutes=5), is_error=True)
    make_records(TraceRecord, "fam.B", 0, 4, start)
    make_records(TraceRecord, "fam.B", 0, 3, now - timedelta(days=3))  # past the time limit
    call_command("purgetraces", verbosity=0)
    rows = TraceRecord.objects.all()
    assert rows.filter(family="fam.A", bucket=0, is_error=False).count() == 10
    assert set(rows.filter(family="fam.A", bucket=0, is_error=False).values_list("title", flat=True)) == {
        f"fam.A #{i}" for i in range(15, 25)
    }
    assert rows.filter(family="fam.A", bucket=3).count() == 10
    assert rows.filter(family="fam.A", is_error=True).count() == 10
    assert set(rows.filter(family="fam.A", is_error=True).values_list("title", flat=True)) == {
        f"fam.A #{i}" for i in range(2, 12)
    }
    assert rows.filter(family="fam.B").count() == 4  # the 3 old ones are gone


@pytest.mark.django_db
def test_purgetraces_options_and_output(settings, capsys):
    from realtime.models import EventLogRecord, LatencyHistogram, TraceRecord

    start = datetime.now(UTC) - timedelta(minutes=10)
    make_records(TraceRecord, "fam.C", 0, 5, start)
    for i in range(4):
        EventLogRecord.objects.create(
            family="websocket.Conn", title=f"c{i}", started_at=start, finished_at=start, elapsed=0.1, bucket=1
        )
    minute_now = int(time.time() // 60)
    LatencyHistogram.objects.create(family="fam.C", minute=minute_now - 500, count=1)  # older than 2 h
    LatencyHistogram.objects.create(family="fam.C", minute=minute_now, count=1)
    LatencyHistogram.objects.create(family="fam.C", minute=0, count=2)  # all time: kept
    call_command("purgetraces", "--keep", "2")
    assert "deleted 3 traces, 2 event logs, 1 per-minute histograms" in capsys.readouterr().out
    assert TraceRecord.objects.count() == 2
    assert sorted(LatencyHistogram.objects.values_list("minute", flat=True)) == [0, minute_now]
    call_command("purgetraces", "--max-age", "60", verbosity=0)
    assert TraceRecord.objects.count() == 0 and EventLogRecord.objects.count() == 0


@pytest.mark.django_db
def test_writer_stores_only_what_retention_keeps_but_counts_everything(settings):
    """5,000 finished traces in one flush: at most 10 per latency bucket are
    written (plus the newest 10 errors), the histogram counts all 5,000."""
    from realtime.models import LatencyHistogram, TraceRecord

    recorder = tracing.Recorder({**tracing.load_config(), "keep": 10})
    for i in range(5000):
        trace = tracing.Trace(recorder, "fam.burst", f"message {i}")
        trace.log("n=%d", i)
        if i % 100 == 0:
            trace.set_error()
        trace.finish()
        # 0.1 ms each, whatever pauses this busy machine makes (a pause over
        # 50 ms would file a trace in another bucket, with 10 more kept).
        trace.start, trace.end = i * 0.001, i * 0.001 + 0.0001
    assert not recorder.active_count()
    recorder.flush(publish=False)
    rows = TraceRecord.objects.filter(family="fam.burst")
    assert rows.count() <= 20
    assert rows.filter(bucket=0, is_error=False).count() <= 10
    assert rows.filter(is_error=True).count() == 10
    assert rows.order_by("-started_at").first().title == "message 4999"
    assert rows.filter(title="message 4999").get().events[0][1] == "n=4999"
    assert LatencyHistogram.objects.get(family="fam.burst", minute=0).count == 5000


def test_the_active_snapshot_counts_every_family_and_shows_each_ones_newest():
    """What the admin's active view shows of one process: 3,000 open socket
    logs and 2 requests in flight, 1,000 of the logs closed again. The
    counts are exact per family, the details are the newest 50 of each
    family (newest first), and closed ones are gone from both."""
    recorder = tracing.Recorder(tracing.load_config())
    logs = [tracing.EventLog(recorder, "ws./ws/time", f"socket {i}") for i in range(3000)]
    requests = [tracing.Trace(recorder, "http.GET", f"request {i}") for i in range(2)]
    for log in logs[-1000:]:
        log.finish()
    snapshot = recorder.snapshot(per_family=50)
    assert sorted(snapshot["counts"]) == [["events", "ws./ws/time", 2000], ["trace", "http.GET", 2]]
    titles = [item["title"] for item in snapshot["items"] if item["family"] == "ws./ws/time"]
    assert titles == [f"socket {i}" for i in range(1999, 1949, -1)]
    assert [item["title"] for item in snapshot["items"] if item["family"] == "http.GET"] == ["request 1", "request 0"]
    for trace in requests:
        trace.finish()
    assert recorder.active_count() == 2000
