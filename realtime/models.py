"""The models Django loads for the `realtime` app. Each is defined in its
feature's package; they are imported here because Django looks for an app's
models in `<app>.models`."""

from django.conf import settings
from django.db import models

from realtime.chat.models import ROOM_NAME_PATTERN, Message, Room  # noqa: F401

# --- Request tracing (issue 3) -------------------------------------------------
# Written by realtime/tracing.py's background writer; shown by
# realtime/tracing_views.py. Bounded like x/net/trace: see purge_traces().


class TraceRecord(models.Model):
    """A finished trace: one HTTP request or one received WebSocket message."""

    family = models.CharField(max_length=100)
    title = models.CharField(max_length=255)
    started_at = models.DateTimeField()
    elapsed = models.FloatField(help_text="seconds")
    # Index into tracing.BUCKET_BOUNDS: the highest latency bucket reached.
    bucket = models.PositiveSmallIntegerField()
    is_error = models.BooleanField(default=False)
    # [[seconds since start, text, is_error, sensitive], ...]
    events = models.JSONField(default=list)
    process = models.CharField(max_length=100, blank=True)

    class Meta:
        verbose_name = "trace"
        ordering = ["-started_at", "-id"]
        # Events logged with sensitive=True show as [redacted] to staff without it.
        permissions = [("view_sensitive_events", "Can see trace events marked sensitive")]
        indexes = [
            models.Index(fields=["family", "bucket", "started_at"], name="trace_family_bucket_started"),
            models.Index(fields=["started_at"], name="trace_started"),
        ]

    def __str__(self):
        return f"{self.family} {self.title}"


class EventLogRecord(models.Model):
    """A finished event log: the life of a WebSocket connection."""

    family = models.CharField(max_length=100)
    title = models.CharField(max_length=255)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    elapsed = models.FloatField(help_text="seconds")
    bucket = models.PositiveSmallIntegerField()
    is_error = models.BooleanField(default=False)
    error_count = models.PositiveIntegerField(default=0)
    last_error_at = models.DateTimeField(null=True, blank=True)
    messages_in = models.PositiveBigIntegerField(default=0)
    messages_out = models.PositiveBigIntegerField(default=0)
    events = models.JSONField(default=list)
    process = models.CharField(max_length=100, blank=True)

    class Meta:
        verbose_name = "event log"
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["family", "bucket", "started_at"], name="eventlog_family_bucket_started"),
            models.Index(fields=["started_at"], name="eventlog_started"),
        ]

    def __str__(self):
        return f"{self.family} {self.title}"


class LatencyHistogram(models.Model):
    """Latency counts of one trace family for one minute (minute = Unix time
    // 60), or for all time (minute = 0). Every trace is counted here, even
    those retention drops."""

    family = models.CharField(max_length=100)
    minute = models.BigIntegerField()
    count = models.PositiveBigIntegerField(default=0)
    total = models.FloatField(default=0.0)
    total_sq = models.FloatField(default=0.0)
    # {"bucket index": count}; bucket i holds [2**(i-1), 2**i) microseconds.
    buckets = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["family", "minute"], name="latency_family_minute")]

    def __str__(self):
        return f"{self.family} @{self.minute}"


def purge_traces(keep=None, max_age_seconds=None, now=None):
    """Apply retention (x/net/trace's, plus a time limit). Returns
    {"traces": n, "event_logs": n, "histograms": n} deleted.

    Kept: per family and latency bucket the newest `keep` (default
    REALTIME_TRACE_KEEP = 10), and per family the newest `keep` errors;
    nothing older than `max_age_seconds` (REALTIME_TRACE_MAX_AGE_SECONDS);
    per-minute histograms for the last 2 hours (the page shows the last hour)
    and the all-time ones.
    """
    import time
    from datetime import datetime, timedelta, timezone

    from realtime.tracing import select_survivors

    keep = settings.REALTIME_TRACE_KEEP if keep is None else keep
    max_age_seconds = settings.REALTIME_TRACE_MAX_AGE_SECONDS if max_age_seconds is None else max_age_seconds
    now = time.time() if now is None else now
    cutoff = datetime.fromtimestamp(now, tz=timezone.utc) - timedelta(seconds=max_age_seconds)
    deleted = {}
    for name, model in (("traces", TraceRecord), ("event_logs", EventLogRecord)):
        count, _ = model.objects.filter(started_at__lt=cutoff).delete()
        rows = [
            Row(*values)
            for values in model.objects.order_by("-started_at", "-id").values_list("id", "family", "bucket", "is_error")
        ]
        survivors = {row.id for row in select_survivors(rows, keep)}
        doomed = [row.id for row in rows if row.id not in survivors]
        for start in range(0, len(doomed), 500):  # SQLite's variable limit
            count += model.objects.filter(id__in=doomed[start:start + 500]).delete()[0]
        deleted[name] = count
    oldest_minute = int(now // 60) - 120
    deleted["histograms"] = LatencyHistogram.objects.filter(minute__gt=0, minute__lt=oldest_minute).delete()[0]
    return deleted


class Row:
    __slots__ = ("id", "family", "bucket", "is_error")

    def __init__(self, id, family, bucket, is_error):
        self.id = id
        self.family = family
        self.bucket = bucket
        self.is_error = is_error


class RequestSummary(TraceRecord):
    """No table of its own: the admin index entry for /debug/requests."""

    class Meta:
        proxy = True
        verbose_name = "request summary (/debug/requests)"
        verbose_name_plural = "request summary (/debug/requests)"


class EventSummary(EventLogRecord):
    """No table of its own: the admin index entry for /debug/events."""

    class Meta:
        proxy = True
        verbose_name = "event summary (/debug/events)"
        verbose_name_plural = "event summary (/debug/events)"
