"""The staff pages of request tracing, after x/net/trace's /debug/requests and
/debug/events: the summary, the trace lists, the latency histograms, the event
logs, and the live socket that keeps the summary and list current.

Every page goes through `admin.site.admin_view`: staff only; anyone else is
sent to the admin login. The query functions are plain blocking functions
(database, Redis): views call them directly (views run in a thread under
ASGI) and the live consumer through database_sync_to_async.
"""

import asyncio
import collections
import json
import logging
import math
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlencode

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib import admin
from django.db.models import Count
from django.http import Http404
from django.shortcuts import render
from django.template.loader import render_to_string

from realtime import tracing
from realtime.sockets.consumer import SocketConsumer
from realtime.sockets.errors import ClientError
from realtime.models import EventLogRecord, LatencyHistogram, TraceRecord

logger = logging.getLogger(__name__)

LIST_LIMIT = 100
TIME_WINDOWS = (("", "all time"), ("60", "last minute"), ("600", "last 10 minutes"),
                ("3600", "last hour"), ("86400", "last day"))
LIVE_INTERVAL_SECONDS = 1.0


def may_see_sensitive(user):
    return user.is_superuser or user.has_perm("realtime.view_sensitive_events")


def format_when(moment):
    return moment.astimezone(timezone.utc).strftime("%Y/%m/%d %H:%M:%S.%f")


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
        return index if 0 <= index < len(tracing.BUCKET_BOUNDS) else None

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
            parts.append(tracing.BUCKET_LABELS[self.bucket_index])
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
    items = [item for snapshot in snapshots for item in snapshot["items"]
             if item["kind"] in kinds and (not family or item["family"] == family)]
    items.sort(key=lambda item: item["started"], reverse=True)
    return items


# -- the summary -----------------------------------------------------------------------------


def summary_rows(snapshots=None):
    """One row per family: active count, the count behind each bucket link,
    errors, and the all-time total from the histogram."""
    snapshots = active_snapshots() if snapshots is None else snapshots
    keep = settings.REALTIME_TRACE_KEEP
    exact = collections.defaultdict(lambda: [0] * len(tracing.BUCKET_BOUNDS))
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
        rows.append({
            "family": family,
            "active": active.get(family, 0),
            "buckets": [{"index": i, "label": label, "count": n, "query": urlencode({"fam": family, "b": i})}
                        for i, (label, n) in enumerate(zip(tracing.BUCKET_LABELS, cumulative))],
            "errors": min(keep, errors.get(family, 0)),
            "total": totals.get(family, 0),
            "query_family": urlencode({"fam": family}),
        })
    return rows


# -- trace lists --------------------------------------------------------------------------------


def event_rows(events, started_at, see_sensitive):
    """Each event with its wall time, the time since the previous event, its text."""
    rows = []
    previous = 0.0
    for offset, text, is_error, sensitive in events:
        rows.append({
            "when": (started_at + timedelta(seconds=offset)).strftime("%H:%M:%S.%f"),
            "delta": f"{offset - previous:.6f}",
            "text": tracing.REDACTED if sensitive and not see_sensitive else text,
            "error": is_error,
        })
        previous = offset
    return rows


def trace_rows(filters, see_sensitive, snapshots=None):
    if filters.active:
        items = active_items(active_snapshots() if snapshots is None else snapshots, ("trace", "events"),
                             filters.family)
        rows = []
        for item in items[:LIST_LIMIT]:
            started = datetime.fromtimestamp(item["started"], tz=timezone.utc)
            if filters.search and filters.search.lower() not in item["title"].lower():
                continue
            rows.append({
                "id": None, "when": format_when(started), "elapsed": f"{item['elapsed']:.6f}",
                "family": item["family"], "title": item["title"], "error": item["error"], "active": True,
                "events": event_rows(item["events"], started, see_sensitive),
            })
        return rows
    queryset = TraceRecord.objects.all()
    if filters.family:
        queryset = queryset.filter(family=filters.family)
    if filters.bucket_index is not None:
        queryset = queryset.filter(bucket__gte=filters.bucket_index)
    if filters.errors_only:
        queryset = queryset.filter(is_error=True)
    if filters.since:
        queryset = queryset.filter(started_at__gte=datetime.now(timezone.utc) - timedelta(seconds=int(filters.since)))
    if filters.search:
        queryset = queryset.filter(title__icontains=filters.search)
    # A bucket link lists what x/net/trace would: the newest N of that bucket.
    limit = settings.REALTIME_TRACE_KEEP if filters.bucket_index is not None or filters.bucket == "err" else LIST_LIMIT
    return [
        {
            "id": record.id, "when": format_when(record.started_at), "elapsed": f"{record.elapsed:.6f}",
            "family": record.family, "title": record.title, "error": record.is_error, "active": False,
            "events": event_rows(record.events, record.started_at, see_sensitive),
        }
        for record in queryset[:limit]
    ]


def families():
    names = set(TraceRecord.objects.values_list("family", flat=True).distinct())
    names |= set(LatencyHistogram.objects.values_list("family", flat=True).distinct())
    return sorted(names)


def live_fragments(filters, see_sensitive):
    """The two parts of /debug/requests that change, rendered as HTML (the
    same templates as the page; autoescaped)."""
    snapshots = active_snapshots()
    context = {"rows": summary_rows(snapshots), "labels": tracing.BUCKET_LABELS, "filters": filters,
               "exp_query": "&exp=1" if filters.expanded else ""}
    fragments = {"summary": render_to_string("tracing/summary_table.html", context)}
    if filters.listing:
        fragments["list"] = render_to_string(
            "tracing/trace_list.html", {"traces": trace_rows(filters, see_sensitive, snapshots), "filters": filters})
    return fragments


# -- histograms ------------------------------------------------------------------------------


def format_seconds(value):
    if value == 0:
        return "0"
    if value < 1e-3:
        return f"{value * 1e6:.0f}µs"
    if value < 1:
        return f"{value * 1e3:.3g}ms"
    return f"{value:.3g}s"


def histogram_view_data(rows):
    """Merge LatencyHistogram rows into count, mean, stddev, median and the
    bucket table (first to last non-empty bucket)."""
    count = sum(row.count for row in rows)
    if not count:
        return {"count": 0}
    total = sum(row.total for row in rows)
    total_sq = sum(row.total_sq for row in rows)
    buckets = [0] * tracing.HISTOGRAM_BUCKETS
    for row in rows:
        for index, n in row.buckets.items():
            buckets[int(index)] += n
    mean = total / count
    variance = max(0.0, total_sq / count - mean * mean)
    nonempty = [i for i, n in enumerate(buckets) if n]
    table = []
    cumulative = 0
    largest = max(buckets)
    median = None
    for index in range(nonempty[0], nonempty[-1] + 1):
        n = buckets[index]
        low, high = tracing.histogram_bucket_bounds(index)
        if median is None and n and (cumulative + n) * 2 >= count:
            # Linear interpolation inside the bucket holding the middle value.
            median = low + (high - low) * ((count / 2 - cumulative) / n)
        cumulative += n
        table.append({
            "low": format_seconds(low), "high": format_seconds(high), "count": n,
            "percent": f"{100 * n / count:.2f}", "cumulative": f"{100 * cumulative / count:.2f}",
            "bar": round(100 * n / largest),
        })
    return {"count": count, "mean": format_seconds(mean), "stddev": format_seconds(math.sqrt(variance)),
            "median": format_seconds(median or 0), "table": table}


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
    windows = [seconds for seconds, _ in tracing.ERROR_WINDOWS]

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
            *[{"label": label, "count": n, "query": urlencode({"fam": family, "b": str(i)})}
              for i, ((_, label), n) in enumerate(zip(tracing.ERROR_WINDOWS, row["windows"]))],
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
            window = tracing.ERROR_WINDOWS[int(bucket)][0]
        except (ValueError, IndexError):
            raise Http404("no such window")
    now = time.time()
    rows = []
    for item in active_items(snapshots, ("events",), family):
        last = item.get("last_error")
        if bucket == "err" and not item["error"]:
            continue
        if window is not None and not (last and now - last <= window):
            continue
        started = datetime.fromtimestamp(item["started"], tz=timezone.utc)
        rows.append({"when": format_when(started), "elapsed": f"{item['elapsed']:.6f}", "family": item["family"],
                     "title": item["title"], "error": item["error"], "active": True,
                     "messages_in": item["messages_in"], "messages_out": item["messages_out"],
                     "events": event_rows(item["events"], started, see_sensitive)})
    queryset = EventLogRecord.objects.filter(family=family) if family else EventLogRecord.objects.all()
    if bucket == "err":
        queryset = queryset.filter(is_error=True)
    if window is not None:
        queryset = queryset.filter(last_error_at__gte=datetime.now(timezone.utc) - timedelta(seconds=window))
    for record in queryset[:LIST_LIMIT]:
        rows.append({"when": format_when(record.started_at), "elapsed": f"{record.elapsed:.6f}",
                     "family": record.family, "title": record.title, "error": record.is_error, "active": False,
                     "messages_in": record.messages_in, "messages_out": record.messages_out,
                     "events": event_rows(record.events, record.started_at, see_sensitive)})
    return rows[:LIST_LIMIT]


# -- views ----------------------------------------------------------------------------------------


def page_context(request, **extra):
    return {**admin.site.each_context(request), **extra}


def requests_view(request):
    filters = Filters(request.GET)
    see_sensitive = may_see_sensitive(request.user)
    snapshots = active_snapshots()
    context = page_context(
        request,
        title="Requests",
        rows=summary_rows(snapshots),
        labels=tracing.BUCKET_LABELS,
        filters=filters,
        exp_query="&exp=1" if filters.expanded else "",
        families=families(),
        bucket_choices=[(str(i), label) for i, label in enumerate(tracing.BUCKET_LABELS)],
        time_windows=TIME_WINDOWS,
        traces=trace_rows(filters, see_sensitive, snapshots) if filters.listing else None,
        live_query=request.META.get("QUERY_STRING", ""),
        keep=settings.REALTIME_TRACE_KEEP,
    )
    return render(request, "tracing/requests.html", context)


def histogram_view(request):
    family = request.GET.get("fam", "")
    chosen = [family] if family else families()
    context = page_context(
        request, title=f"Latency histogram{': ' + family if family else 's'}",
        histograms=[{"family": name, "windows": histograms_for(name)} for name in chosen],
    )
    return render(request, "tracing/histogram.html", context)


def events_view(request):
    family = request.GET.get("fam", "")
    bucket = request.GET.get("b", "")
    snapshots = active_snapshots()
    logs = None
    if family or bucket:
        logs = event_log_rows(family, bucket or "all", may_see_sensitive(request.user), snapshots)
    context = page_context(
        request, title="Events", rows=event_summary_rows(snapshots), logs=logs, family=family, bucket=bucket,
        window_labels=["total", *[label for _, label in tracing.ERROR_WINDOWS], "errors"],
    )
    return render(request, "tracing/events.html", context)


requests_page = admin.site.admin_view(requests_view)
histogram_page = admin.site.admin_view(histogram_view)
events_page = admin.site.admin_view(events_view)


# -- the live socket ---------------------------------------------------------------------------


class TraceLiveConsumer(SocketConsumer):
    """/ws/debug/requests?<the page's filters>: every second, the summary and
    the list as rendered HTML fragments, sent when they changed. Staff only:
    without a staff session the handshake is refused (403)."""

    uses_database = True

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not (user.is_active and user.is_staff):
            self.trace_log.errorf("rejected: not a staff session")
            await self.close()
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        self.filters = Filters(query)
        self.see_sensitive = await database_sync_to_async(may_see_sensitive)(user)
        await self.accept()
        self.pusher = asyncio.ensure_future(self.push())

    async def push(self):
        last = None
        while True:
            try:
                fragments = await database_sync_to_async(live_fragments)(self.filters, self.see_sensitive)
            except Exception:  # the database is busy or away: try again next second
                logger.warning("live trace update failed", exc_info=True)
            else:
                if fragments != last:
                    last = fragments
                    await self.send(text_data=json.dumps(fragments))
            await asyncio.sleep(LIVE_INTERVAL_SECONDS)

    async def receive(self, text_data=None, bytes_data=None):
        raise ClientError("read_only", "this socket only sends updates")

    async def disconnect(self, code):
        pusher = getattr(self, "pusher", None)
        if pusher is not None:
            pusher.cancel()
