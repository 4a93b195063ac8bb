from django.contrib import admin
from django.urls import include, path

from realtime import health

urlpatterns = [
    path("", include("realtime.samples.urls")),
    path("admin/", admin.site.urls),
    path("", include("realtime.chat.urls")),
    # Request tracing, staff only, as Go's x/net/trace pages.
    path("", include("realtime.tracing.urls")),
    path("healthz", health.healthz, name="healthz"),
]
