from django.urls import path, re_path

from realtime.chat import views
from realtime.chat.models import ROOM_NAME_PATTERN

urlpatterns = [
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    re_path(rf"^chat/(?P<room>{ROOM_NAME_PATTERN})/$", views.room, name="chat-room"),
]
