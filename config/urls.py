from django.contrib import admin
from django.urls import path

from realtime import views

urlpatterns = [
    path("", views.index, name="index"),
    path("mouse/", views.mouse, name="mouse"),
    path("echo/", views.echo, name="echo"),
    path("admin/", admin.site.urls),
]
