from django.urls import path

from realtime.samples import views

urlpatterns = [
    path("", views.index, name="index"),
    path("mouse/", views.mouse, name="mouse"),
    path("echo/", views.echo, name="echo"),
]
