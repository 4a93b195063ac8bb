from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from realtime import health

urlpatterns = [
    path("", include("realtime.samples.urls")),
    path("admin/", admin.site.urls),
    path("", include("realtime.chat.urls")),
    # Request tracing, staff only, as Go's x/net/trace pages.
    path("", include("realtime.tracing.urls")),
    path("healthz", health.healthz, name="healthz"),
    # Browsers ask for /favicon.ico whatever the page links: the same icon.
    path("favicon.ico", RedirectView.as_view(url=static("realtime/favicon.svg"), permanent=True)),
]
