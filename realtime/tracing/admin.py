"""Admin entries of request tracing: the stored traces and event logs
(read-only, filters, title search, the events of each), and two index
entries that lead to /debug/requests and /debug/events. Staff only; nothing
here can be added or edited (only a superuser may delete)."""

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse

from realtime.tracing.histograms import BUCKET_LABELS
from realtime.tracing.models import EventLogRecord, EventSummary, RequestSummary, TraceRecord
from realtime.tracing.queries import event_rows, format_when, may_see_sensitive


class LatencyBucketFilter(admin.SimpleListFilter):
    """x/net/trace's buckets: ≥ a latency, so ≥50ms includes ≥1s."""

    title = "latency"
    parameter_name = "latency"

    def lookups(self, request, model_admin):
        return [(str(i), label) for i, label in enumerate(BUCKET_LABELS)]

    def queryset(self, request, queryset):
        # Only a bucket's own index filters; anything else a client put in
        # the URL (5,000 digits, "²", "-1") lists the traces unfiltered.
        indexes = {str(i): i for i in range(len(BUCKET_LABELS))}
        bucket = indexes.get(self.value())
        return queryset if bucket is None else queryset.filter(bucket__gte=bucket)


class StaffReadOnlyAdmin(admin.ModelAdmin):
    """Tracing's admin pages: every active staff user may look, nobody may
    add or change (traces are what happened)."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TraceAdminBase(StaffReadOnlyAdmin):
    list_filter = ["family", LatencyBucketFilter, "is_error", "started_at"]
    search_fields = ["title"]
    list_per_page = 50
    change_form_template = "tracing/record_change_form.html"
    exclude = ["events"]

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    @admin.display(description="When", ordering="started_at")
    def when(self, record):
        return format_when(record.started_at)

    @admin.display(description="Elapsed (s)", ordering="elapsed")
    def elapsed_seconds(self, record):
        return f"{record.elapsed:.6f}"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_object(request, object_id)
        extra = {
            "trace_events": event_rows(record.events, record.started_at, may_see_sensitive(request.user))
            if record
            else []
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})


@admin.register(TraceRecord)
class TraceRecordAdmin(TraceAdminBase):
    list_display = ["when", "elapsed_seconds", "family", "title", "is_error"]


@admin.register(EventLogRecord)
class EventLogRecordAdmin(TraceAdminBase):
    list_display = ["when", "elapsed_seconds", "family", "title", "messages_in", "messages_out", "is_error"]


class RedirectAdmin(StaffReadOnlyAdmin):
    target = None

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        return redirect(reverse(self.target))


@admin.register(RequestSummary)
class RequestSummaryAdmin(RedirectAdmin):
    target = "debug-requests"


@admin.register(EventSummary)
class EventSummaryAdmin(RedirectAdmin):
    target = "debug-events"
