"""Tracing's tables (app label `realtime`: realtime_tracerecord,
realtime_eventlogrecord, realtime_latencyhistogram). Written by the writer
thread (realtime.tracing.writer), bounded by realtime.tracing.retention,
shown by the pages and the admin."""

from django.db import models


class StoredTrace(models.Model):
    """What a stored trace and a stored event log share."""

    family = models.CharField(max_length=100)
    title = models.CharField(max_length=255)
    started_at = models.DateTimeField()
    elapsed = models.FloatField(help_text="seconds")
    # Index into histograms.BUCKET_BOUNDS: the highest latency bucket reached.
    bucket = models.PositiveSmallIntegerField()
    is_error = models.BooleanField(default=False)
    # [[seconds since start, text, is_error, sensitive], ...]
    events = models.JSONField(default=list)
    process = models.CharField(max_length=100, blank=True)

    class Meta:
        abstract = True
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"{self.family} {self.title}"


class TraceRecord(StoredTrace):
    """A finished trace: one HTTP request or one received WebSocket message."""

    class Meta(StoredTrace.Meta):
        verbose_name = "trace"
        # Events logged with sensitive=True show as [redacted] to staff without it.
        permissions = [("view_sensitive_events", "Can see trace events marked sensitive")]
        indexes = [
            models.Index(fields=["family", "bucket", "started_at"], name="trace_family_bucket_started"),
            models.Index(fields=["started_at"], name="trace_started"),
        ]


class EventLogRecord(StoredTrace):
    """A finished event log: the life of a WebSocket connection."""

    finished_at = models.DateTimeField()
    error_count = models.PositiveIntegerField(default=0)
    last_error_at = models.DateTimeField(null=True, blank=True)
    messages_in = models.PositiveBigIntegerField(default=0)
    messages_out = models.PositiveBigIntegerField(default=0)

    class Meta(StoredTrace.Meta):
        verbose_name = "event log"
        indexes = [
            models.Index(fields=["family", "bucket", "started_at"], name="eventlog_family_bucket_started"),
            models.Index(fields=["started_at"], name="eventlog_started"),
        ]


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
