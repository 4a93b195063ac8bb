"""What the tracing pages show, as plain blocking functions (database,
Redis): the summary, the trace lists, the histograms, the event logs. The
views call them directly (views run in a thread under ASGI), the live
consumer through database_sync_to_async; the admin shares the event rows."""

import collections
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Count
from django.http import Http404

from realtime import tracing
from realtime.tracing import conf
from realtime.tracing.histograms import BUCKET_BOUNDS, BUCKET_LABELS, histogram_view_data
from realtime.tracing.models import EventLogRecord, LatencyHistogram, TraceRecord
from realtime.tracing.redaction import REDACTED

LIST_LIMIT = 100
TIME_WINDOWS = (
    ("", "all time"),
    ("60", "last minute"),
    ("600", "last 10 minutes"),
    ("3600", "last hour"),
    ("86400", "last day"),
)
# Event-log error windows of /debug/events.
ERROR_WINDOWS = ((10, "errs<10s"), (60, "errs<1m"), (600, "errs<10m"), (3600, "errs<1h"), (36000, "errs<10h"))


def may_see_sensitive(user):
    return user.is_superuser or user.has_perm("realtime.view_sensitive_events")


def format_when(moment):
    return moment.astimezone(UTC).strftime("%Y/%m/%d %H:%M:%S.%f")


# -- filters (the query string) ---------------------------------------------------------


class Filters:
    """?fam=<family>&b=<bucket 0-7 | -1 active | err>&err=1&since=<seconds>&q=<title>&exp=1"""

    def __init__(self, query):
        def one(name):
            value = query.get(name, "")
            return value[0] if isinstance(value, list) else value

        self.family = one("fam")
        self.bucket = one("b")
        self.errors_only = one("err") == "1" or self.bucket == "err"
        self.since = one("since") if one("since") in {value for value, _ in TIME_WINDOWS} else ""
        self.search = one("q").strip()[:200]
        self.expanded = one("exp") == "1"

    @property
    def active(self):
        return self.bucket == "-1"

    @property
    def bucket_index(self):
        try:
            index = int(self.bucket)
        except ValueError:
            return None
        return index if 0 <= index < len(BUCKET_BOUNDS) else None

    @property
    def listing(self):
        """Whether the page shows a list (a family, bucket, search or filter was chosen)."""
        return bool(self.family or self.bucket or self.errors_only or self.since or self.search)

    def describe(self):
        parts = []
        if self.family:
            parts.append(self.family)
        if self.active:
            parts.append("active")
        elif self.bucket_index is not None:
            parts.append(BUCKET_LABELS[self.bucket_index])
        if self.errors_only:
            parts.append("errors")
        if self.since:
            parts.append(dict(TIME_WINDOWS)[self.since])
        if self.search:
            parts.append(f"title contains “{self.search}”")
        return ", ".join(parts) or "all"


# -- active traces ------------------------------------------------------------------------


def active_snapshots():
    recorder = tracing.get_recorder()
    return recorder.all_active() if recorder else []


def active_counts(snapshots, kinds):
    counts = collections.Counter()
    for snapshot in snapshots:
        for item_kind, family, n in snapshot["counts"]:
            if item_kind in kinds:
                counts[family] += n
    return counts


def active_items(snapshots, kinds, family=None):
    items = [
        item
        for snapshot in snapshots
        for item in snapshot["items"]
        if item["kind"] in kinds and (not family or item["family"] == family)
    ]
    items.sort(key=lambda item: item["started"], reverse=True)
    return items


# -- the summary -----------------------------------------------------------------------------


def summary_rows(snapshots=None):
    """One row per family: active count, the count behind each bucket link,
    errors, and the all-time total from the histogram."""
    snapshots = active_snapshots() if snapshots is None else snapshots
    keep = conf.keep()
    exact = collections.defaultdict(lambda: [0] * len(BUCKET_BOUNDS))
    errors = collections.Counter()
    for row in TraceRecord.objects.values("family", "bucket", "is_error").annotate(n=Count("id")).order_by():
        exact[row["family"]][row["bucket"]] += row["n"]
        if row["is_error"]:
            errors[row["family"]] += row["n"]
    totals = dict(LatencyHistogram.objects.filter(minute=0).values_list("family", "count"))
    # Open connections (event logs) count as active too: /debug/requests
    # shows everything in flight, /debug/events their logs.
    active = active_counts(snapshots, ("trace", "events"))
    families = sorted(set(exact) | set(totals) | set(active))
    rows = []
    for family in families:
        counts = exact[family]
        cumulative = [min(keep, sum(counts[i:])) for i in range(len(counts))]
        rows.append(
            {
                "family": family,
                "active": active.get(family, 0),
                "buckets": [
                    {"index": i, "label": label, "count": n, "query": urlencode({"fam": family, "b": i})}
                    for i, (label, n) in enumerate(zip(BUCKET_LABELS, cumulative, strict=True))
                ],
                "errors": min(keep, errors.get(family, 0)),
                # Finished (the histogram's all-time count) and in flight.
                "total": totals.get(family, 0) + active.get(family, 0),
                "query_family": urlencode({"fam": family}),
            }
        )
    return rows


# -- trace lists --------------------------------------------------------------------------------


def event_rows(events, started_at, see_sensitive):
    """Each event with its wall time, the time since the previous event, its text."""
    rows = []
    previous = 0.0
    for offset, text, is_error, sensitive in events:
        rows.append(
            {
                "when": (started_at + timedelta(seconds=offset)).strftime("%H:%M:%S.%f"),
                "delta": f"{offset - previous:.6f}",
                "text": REDACTED if sensitive and not see_sensitive else text,
                "error": is_error,
            }
        )
        previous = offset
    return rows


def trace_rows(filters, see_sensitive, snapshots=None):
    if filters.active:
        items = active_items(
            active_snapshots() if snapshots is None else snapshots, ("trace", "events"), filters.family
        )
        rows = []
        for item in items[:LIST_LIMIT]:
            started = datetime.fromtimestamp(item["started"], tz=UTC)
            if filters.search and filters.search.lower() not in item["title"].lower():
                continue
            rows.append(
                {
                    "id": None,
                    "when": format_when(started),
                    "elapsed": f"{item['elapsed']:.6f}",
                    "family": item["family"],
                    "title": item["title"],
                    "error": item["error"],
                    "active": True,
                    "events": event_rows(item["events"], started, see_sensitive),
                }
            )
        return rows
    queryset = TraceRecord.objects.all()
    if filters.family:
        queryset = queryset.filter(family=filters.family)
    if filters.bucket_index is not None:
        queryset = queryset.filter(bucket__gte=filters.bucket_index)
    if filters.errors_only:
        queryset = queryset.filter(is_error=True)
    if filters.since:
        queryset = queryset.filter(started_at__gte=datetime.now(UTC) - timedelta(seconds=int(filters.since)))
    if filters.search:
        queryset = queryset.filter(title__icontains=filters.search)
    # A bucket link lists what x/net/trace would: the newest N of that bucket.
    limit = conf.keep() if filters.bucket_index is not None or filters.bucket == "err" else LIST_LIMIT
    return [
        {
            "id": record.id,
            "when": format_when(record.started_at),
            "elapsed": f"{record.elapsed:.6f}",
            "family": record.family,
            "title": record.title,
            "error": record.is_error,
            "active": False,
            "events": event_rows(record.events, record.started_at, see_sensitive),
        }
        for record in queryset[:limit]
    ]


def families():
    names = set(TraceRecord.objects.values_list("family", flat=True).distinct())
    names |= set(LatencyHistogram.objects.values_list("family", flat=True).distinct())
    return sorted(names)


# -- histograms ------------------------------------------------------------------------------


def histograms_for(family, now=None):
    now = time.time() if now is None else now
    minute = int(now // 60)
    rows = list(LatencyHistogram.objects.filter(family=family))
    return [
        ("Last minute", histogram_view_data([r for r in rows if r.minute and r.minute >= int((now - 60) // 60)])),
        ("Last hour", histogram_view_data([r for r in rows if r.minute and r.minute >= minute - 60])),
        ("All time", histogram_view_data([r for r in rows if r.minute == 0])),
    ]


# -- event logs --------------------------------------------------------------------------------


def event_summary_rows(snapshots):
    now = time.time()
    rows = collections.OrderedDict()
    windows = [seconds for seconds, _ in ERROR_WINDOWS]

    def row_for(family):
        if family not in rows:
            rows[family] = {"family": family, "total": 0, "active": 0, "windows": [0] * len(windows), "errors": 0}
        return rows[family]

    for record in EventLogRecord.objects.values("family", "is_error", "last_error_at").order_by():
        row = row_for(record["family"])
        row["total"] += 1
        if record["is_error"]:
            row["errors"] += 1
            if record["last_error_at"]:
                age = now - record["last_error_at"].timestamp()
                for i, seconds in enumerate(windows):
                    if age <= seconds:
                        row["windows"][i] += 1
    for item in active_items(snapshots, ("events",)):
        row = row_for(item["family"])
        row["total"] += 1
        row["active"] += 1
        if item["error"]:
            row["errors"] += 1
            last = item.get("last_error")
            if last:
                for i, seconds in enumerate(windows):
                    if now - last <= seconds:
                        row["windows"][i] += 1
    result = []
    for family in sorted(rows):
        row = rows[family]
        row["cells"] = [
            {"label": "total", "count": row["total"], "query": urlencode({"fam": family, "b": "all"})},
            *[
                {"label": label, "count": n, "query": urlencode({"fam": family, "b": str(i)})}
                for i, ((_, label), n) in enumerate(zip(ERROR_WINDOWS, row["windows"], strict=True))
            ],
            {"label": "errors", "count": row["errors"], "query": urlencode({"fam": family, "b": "err"})},
        ]
        result.append(row)
    return result


def event_log_rows(family, bucket, see_sensitive, snapshots):
    """Active logs first, then finished ones; `bucket` is "all", "err" or the
    index of an error window."""
    window = None
    if bucket not in ("all", "err", ""):
        try:
            window = ERROR_WINDOWS[int(bucket)][0]
        except (ValueError, IndexError):
            raise Http404("no such window") from None
    now = time.time()
    rows = []
    for item in active_items(snapshots, ("events",), family):
        last = item.get("last_error")
        if bucket == "err" and not item["error"]:
            continue
        if window is not None and not (last and now - last <= window):
            continue
        started = datetime.fromtimestamp(item["started"], tz=UTC)
        rows.append(
            {
                "when": format_when(started),
                "elapsed": f"{item['elapsed']:.6f}",
                "family": item["family"],
                "title": item["title"],
                "error": item["error"],
                "active": True,
                "messages_in": item["messages_in"],
                "messages_out": item["messages_out"],
                "events": event_rows(item["events"], started, see_sensitive),
            }
        )
    queryset = EventLogRecord.objects.filter(family=family) if family else EventLogRecord.objects.all()
    if bucket == "err":
        queryset = queryset.filter(is_error=True)
    if window is not None:
        queryset = queryset.filter(last_error_at__gte=datetime.now(UTC) - timedelta(seconds=window))
    for record in queryset[:LIST_LIMIT]:
        rows.append(
            {
                "when": format_when(record.started_at),
                "elapsed": f"{record.elapsed:.6f}",
                "family": record.family,
                "title": record.title,
                "error": record.is_error,
                "active": False,
                "messages_in": record.messages_in,
                "messages_out": record.messages_out,
                "events": event_rows(record.events, record.started_at, see_sensitive),
            }
        )
    return rows[:LIST_LIMIT]
