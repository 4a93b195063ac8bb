"""What is kept: x/net/trace's rule, plus a time limit and a limit on the
number of families.

The rule (KeepRule), fed items newest first: the first `keep` of each
(family, latency bucket) survive, and the first `keep` errors of each
family. The writer applies it to each batch before writing (so a burst
writes ~90 rows per family, not one per message), `purge_traces` to what is
stored (server every REALTIME_TRACE_PURGE_SECONDS, and `manage.py
purgetraces`), and the pages list what it keeps.

Families: at most REALTIME_TRACE_MAX_FAMILIES are stored (FamilyLimit, in
the writer); a trace of a further family is stored and counted under
OVERFLOW_FAMILY. A family with no trace left (none in the last
REALTIME_TRACE_MAX_AGE_SECONDS) loses its histograms too, all-time ones
included, so it leaves the pages and frees its place.
"""

import time
from datetime import UTC, datetime, timedelta
from time import monotonic

from realtime.tracing import conf
from realtime.tracing.models import EventLogRecord, LatencyHistogram, TraceRecord

# Per-minute histograms are kept this long (the page shows the last hour);
# the all-time ones (minute 0) as long as their family has a trace.
HISTOGRAM_MINUTES = 120
# Where the traces of families beyond REALTIME_TRACE_MAX_FAMILIES go.
OVERFLOW_FAMILY = "(other families)"


class KeepRule:
    """Call `admits` for items newest first; it says whether each survives."""

    __slots__ = ("keep", "per_bucket", "errors")

    def __init__(self, keep):
        self.keep = keep
        self.per_bucket = {}  # (family, bucket) -> kept so far
        self.errors = {}  # family -> errors kept so far

    def admits(self, family, bucket, is_error):
        key = (family, bucket)
        count = self.per_bucket.get(key, 0)
        kept = count < self.keep
        if kept:
            self.per_bucket[key] = count + 1
        if is_error:
            count = self.errors.get(family, 0)
            if count < self.keep:
                self.errors[family] = count + 1
                kept = True
        return kept


class FamilyLimit:
    """At most `limit` trace families stored (0: no limit). `admit(family)`
    returns the family a trace is stored under: its own while there is
    room, else OVERFLOW_FAMILY. The stored families are read from the
    database (so all processes count the same ones, give or take a flush)
    again every `refresh_seconds`, after retention may have freed places.
    Used by the writer thread only."""

    def __init__(self, limit, refresh_seconds=10.0):
        self.limit = limit
        self.refresh_seconds = refresh_seconds
        self.known = None
        self.loaded_at = 0.0

    def refresh(self):
        known = set(TraceRecord.objects.values_list("family", flat=True).distinct())
        known |= set(LatencyHistogram.objects.filter(minute=0).values_list("family", flat=True))
        known.discard(OVERFLOW_FAMILY)
        self.known = known
        self.loaded_at = monotonic()

    def admit(self, family):
        if self.limit <= 0 or family == OVERFLOW_FAMILY:
            return family
        if self.known is None or monotonic() - self.loaded_at > self.refresh_seconds:
            self.refresh()
        if family in self.known:
            return family
        if len(self.known) >= self.limit:
            return OVERFLOW_FAMILY
        self.known.add(family)
        return family


def select_survivors(items, keep):
    """The items (newest first, each with .family, .bucket, .is_error) that
    KeepRule(keep) admits."""
    rule = KeepRule(keep)
    return [item for item in items if rule.admits(item.family, item.bucket, item.is_error)]


class Row:
    """What the rule needs of a stored row."""

    __slots__ = ("id", "family", "bucket", "is_error")

    def __init__(self, id, family, bucket, is_error):
        self.id = id
        self.family = family
        self.bucket = bucket
        self.is_error = is_error


def purge_traces(keep=None, max_age_seconds=None, now=None):
    """Apply retention to what is stored. Returns {"traces": n,
    "event_logs": n, "histograms": n} deleted.

    Kept: what KeepRule(`keep`, default REALTIME_TRACE_KEEP) admits of the
    rows newest first; nothing older than `max_age_seconds`
    (REALTIME_TRACE_MAX_AGE_SECONDS); per-minute histograms for the last
    HISTOGRAM_MINUTES, and the all-time ones, of families that still have
    a trace.
    """
    keep = conf.keep() if keep is None else keep
    max_age_seconds = conf.max_age_seconds() if max_age_seconds is None else max_age_seconds
    now = time.time() if now is None else now
    cutoff = datetime.fromtimestamp(now, tz=UTC) - timedelta(seconds=max_age_seconds)
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
            count += model.objects.filter(id__in=doomed[start : start + 500]).delete()[0]
        deleted[name] = count
    oldest_minute = int(now // 60) - HISTOGRAM_MINUTES
    deleted["histograms"] = LatencyHistogram.objects.filter(minute__gt=0, minute__lt=oldest_minute).delete()[0]
    # Every family traced within max_age still has a row (KeepRule keeps the
    # newest of each), so one with none has had no trace for that long.
    deleted["histograms"] += LatencyHistogram.objects.exclude(family__in=TraceRecord.objects.values("family")).delete()[
        0
    ]
    return deleted
