from django.contrib import admin
from django.urls import include, path, re_path

from realtime import health
from realtime import tracing_views

urlpatterns = [
    path("", include("realtime.samples.urls")),
    path("admin/", admin.site.urls),
    path("", include("realtime.chat.urls")),
    # Request tracing (issue 3), staff only, as Go's x/net/trace pages.
    path("debug/requests", tracing_views.requests_page, name="debug-requests"),
    path("debug/requests/histogram", tracing_views.histogram_page, name="debug-histogram"),
    path("debug/events", tracing_views.events_page, name="debug-events"),
    path("healthz", health.healthz, name="healthz"),
]
