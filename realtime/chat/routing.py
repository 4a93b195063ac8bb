from django.urls import re_path

from realtime.chat.consumer import ChatConsumer
from realtime.chat.models import ROOM_NAME_PATTERN

websocket_urlpatterns = [
    re_path(rf"^ws/chat/(?P<room>{ROOM_NAME_PATTERN})/$", ChatConsumer.as_asgi()),
]
