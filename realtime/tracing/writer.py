"""The writer: what the recorder's thread does with a flush's batch. Every
trace is counted in the latency histograms; only what retention keeps
(realtime.tracing.retention.KeepRule) becomes a row. Blocking (database):
runs in the writer thread or a test's, never on the event loop.
"""

import operator
from datetime import UTC, datetime

from django.db import transaction

from realtime.tracing.events import RECEIVE_FAMILY, message_events, serialize_events
from realtime.tracing.histograms import Histogram, bucket_of
from realtime.tracing.models import EventLogRecord, LatencyHistogram, TraceRecord
from realtime.tracing.retention import FamilyLimit, KeepRule

# Of a received-message tuple (see Recorder.record_message).
STARTED = operator.itemgetter(3)
ENDED = operator.itemgetter(4)


def to_datetime(epoch):
    return datetime.fromtimestamp(epoch, tz=UTC)


def write(recorder, batch, offset, times=(), messages=(), minute=None):
    """Count every trace in the histograms; write only those retention
    keeps. One tight pass, newest first: at 20,000 messages a second this
    loop is the writer's main cost."""
    keep = recorder.config["keep"]
    if recorder.family_limit is None:
        recorder.family_limit = FamilyLimit(recorder.config["max_families"], recorder.config["purge_seconds"])
    family_of = recorder.family_limit.admit
    histograms = recorder.histograms
    # Traces and event logs are kept apart, each by the one rule.
    rules = {True: KeepRule(keep), False: KeepRule(keep)}
    # Received messages are nearly all of a busy second: they take the
    # bulk path; the rest (requests, connection logs) the loop below.
    trace_rows = message_rows(recorder, times, list(messages), offset, minute) if times or messages else []
    log_rows = []
    for item in reversed(batch):
        title, start, end, family, error = item.title, item.start, item.end, item.family, item.error
        is_trace = item.kind == "trace"
        if is_trace:
            family = family_of(family)
        elapsed = end - start
        bucket = 0 if elapsed < 0.05 else bucket_of(elapsed)
        # Every trace and every finished connection (its duration) is
        # counted: a family's Total on /debug/requests counts them all.
        key = (family, int((end + offset) // 60))
        histogram = histograms.get(key)
        if histogram is None:
            histogram = histograms[key] = Histogram()
        histogram.add(elapsed)
        if not rules[is_trace].admits(family, bucket, error):
            continue
        common = {
            "family": family[:100],
            "title": title[:255],
            "started_at": to_datetime(start + offset),
            "elapsed": elapsed,
            "bucket": bucket,
            "is_error": bool(error),
            "process": recorder.process,
            "events": serialize_events(item, offset),
        }
        if is_trace:
            trace_rows.append(TraceRecord(**common))
        else:
            log_rows.append(
                EventLogRecord(
                    **common,
                    finished_at=to_datetime(item.end + offset),
                    error_count=item.errors,
                    last_error_at=to_datetime(item.last_error + offset) if item.last_error else None,
                    messages_in=item.messages_in,
                    messages_out=item.messages_out,
                )
            )
    histograms, recorder.histograms = recorder.histograms, {}
    try:
        with transaction.atomic():
            TraceRecord.objects.bulk_create(trace_rows)
            EventLogRecord.objects.bulk_create(log_rows)
            write_histograms(histograms)
    except Exception:
        # Keep the counts for the next flush (the rows of this batch are lost).
        merge_back(recorder, histograms)
        raise


def message_rows(recorder, times, messages, offset, minute):
    """Received messages: every latency into the histogram of `minute`
    (the flush's; a batch covers one flush period), and the TraceRecords
    retention keeps of the records the recorder kept."""
    family = recorder.family_limit.admit(RECEIVE_FAMILY)
    if times:
        recorder.histograms.setdefault((family, minute), Histogram()).add_many(times)
    messages.sort(key=ENDED)
    rule = KeepRule(recorder.config["keep"])
    rows = []
    for record in reversed(messages):
        elapsed = ENDED(record) - STARTED(record)
        bucket = bucket_of(elapsed)
        if rule.admits(family, bucket, record[6]):
            rows.append(
                TraceRecord(
                    family=family,
                    title=record[0][:255],
                    started_at=to_datetime(STARTED(record) + offset),
                    elapsed=elapsed,
                    bucket=bucket,
                    is_error=bool(record[6]),
                    process=recorder.process,
                    events=message_events(record),
                )
            )
    return rows


def merge_back(recorder, histograms):
    for key, histogram in histograms.items():
        recorder.histograms.setdefault(key, Histogram()).merge(histogram)


def write_histograms(histograms):
    """Add the counts to the per-minute rows and the all-time (minute 0) rows."""
    combined = {}
    for (family, minute), histogram in histograms.items():
        for key in ((family, minute), (family, 0)):
            combined.setdefault(key, Histogram()).merge(histogram)
    for (family, minute), histogram in combined.items():
        row, _ = LatencyHistogram.objects.select_for_update().get_or_create(family=family[:100], minute=minute)
        row.count += histogram.count
        row.total += histogram.total
        row.total_sq += histogram.total_sq
        counts = {int(k): v for k, v in row.buckets.items()}
        for index, n in enumerate(histogram.buckets):
            if n:
                counts[index] = counts.get(index, 0) + n
        row.buckets = {str(k): v for k, v in sorted(counts.items())}
        row.save()
