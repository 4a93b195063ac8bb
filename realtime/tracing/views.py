"""The staff pages of request tracing, after x/net/trace's /debug/requests
and /debug/events: the summary and trace lists, the latency histograms, the
event logs. Every page goes through `admin.site.admin_view`: staff only;
anyone else is sent to the admin login. What they show comes from
realtime.tracing.queries."""

from django.contrib import admin
from django.shortcuts import render
from django.template.loader import render_to_string

from realtime.tracing import conf
from realtime.tracing.histograms import BUCKET_LABELS
from realtime.tracing.queries import (
    ERROR_WINDOWS,
    TIME_WINDOWS,
    Filters,
    active_snapshots,
    event_log_rows,
    event_summary_rows,
    families,
    histograms_for,
    may_see_sensitive,
    summary_rows,
    trace_rows,
)


def live_fragments(filters, see_sensitive):
    """The two parts of /debug/requests that change, rendered as HTML (the
    same templates as the page; autoescaped)."""
    snapshots = active_snapshots()
    context = {
        "rows": summary_rows(snapshots),
        "labels": BUCKET_LABELS,
        "filters": filters,
        "exp_query": "&exp=1" if filters.expanded else "",
    }
    fragments = {"summary": render_to_string("tracing/summary_table.html", context)}
    if filters.listing:
        fragments["list"] = render_to_string(
            "tracing/trace_list.html", {"traces": trace_rows(filters, see_sensitive, snapshots), "filters": filters}
        )
    return fragments


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
        labels=BUCKET_LABELS,
        filters=filters,
        exp_query="&exp=1" if filters.expanded else "",
        families=families(),
        bucket_choices=[(str(i), label) for i, label in enumerate(BUCKET_LABELS)],
        time_windows=TIME_WINDOWS,
        traces=trace_rows(filters, see_sensitive, snapshots) if filters.listing else None,
        live_query=request.META.get("QUERY_STRING", ""),
        keep=conf.keep(),
    )
    return render(request, "tracing/requests.html", context)


def histogram_view(request):
    family = request.GET.get("fam", "")
    chosen = [family] if family else families()
    context = page_context(
        request,
        title=f"Latency histogram{': ' + family if family else 's'}",
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
        request,
        title="Events",
        rows=event_summary_rows(snapshots),
        logs=logs,
        family=family,
        bucket=bucket,
        window_labels=["total", *[label for _, label in ERROR_WINDOWS], "errors"],
    )
    return render(request, "tracing/events.html", context)


requests_page = admin.site.admin_view(requests_view)
histogram_page = admin.site.admin_view(histogram_view)
events_page = admin.site.admin_view(events_view)
