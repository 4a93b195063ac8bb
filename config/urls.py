from django.contrib import admin
from django.urls import path, re_path

from realtime import views
from realtime import accounts, chat_views
from realtime.models import ROOM_NAME_PATTERN

urlpatterns = [
    path("", views.index, name="index"),
    path("mouse/", views.mouse, name="mouse"),
    path("echo/", views.echo, name="echo"),
    path("admin/", admin.site.urls),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/login/", accounts.LoginView.as_view(), name="login"),
    path("accounts/logout/", accounts.LogoutView.as_view(), name="logout"),
    re_path(rf"^chat/(?P<room>{ROOM_NAME_PATTERN})/$", chat_views.room, name="chat-room"),
]
