from django.conf import settings
from django.shortcuts import render

from realtime.models import Room


def room(request, room):
    # Not stored: a room is stored with its first post, so page views (by
    # anyone, under any name) add no rows.
    room = Room(name=room)
    return render(request, "realtime/chat.html", {
        "room": room,
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
    })
