from django.conf import settings
from django.shortcuts import render

from realtime.models import Room


def room(request, room):
    # Rooms are created on their first visit.
    room, _ = Room.objects.get_or_create(name=room)
    return render(request, "realtime/chat.html", {
        "room": room,
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
    })
