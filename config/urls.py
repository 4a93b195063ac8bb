from django.contrib import admin
from django.urls import include, path, re_path

from realtime import health
from realtime import accounts, chat_views
from realtime import tracing_views
from realtime.models import ROOM_NAME_PATTERN

urlpatterns = [
    path("", include("realtime.samples.urls")),
    path("admin/", admin.site.urls),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/login/", accounts.LoginView.as_view(), name="login"),
    path("accounts/logout/", accounts.LogoutView.as_view(), name="logout"),
    re_path(rf"^chat/(?P<room>{ROOM_NAME_PATTERN})/$", chat_views.room, name="chat-room"),
    # Request tracing (issue 3), staff only, as Go's x/net/trace pages.
    path("debug/requests", tracing_views.requests_page, name="debug-requests"),
    path("debug/requests/histogram", tracing_views.histogram_page, name="debug-histogram"),
    path("debug/events", tracing_views.events_page, name="debug-events"),
    path("healthz", health.healthz, name="healthz"),
]
