"""The staff pages, at x/net/trace's addresses."""

from django.urls import path

from realtime.tracing import views

urlpatterns = [
    path("debug/requests", views.requests_page, name="debug-requests"),
    path("debug/requests/histogram", views.histogram_page, name="debug-histogram"),
    path("debug/events", views.events_page, name="debug-events"),
]
