"""Rooms and messages in the Django admin. Messages are read-only there
except for deleting, which goes through realtime.chat.moderation, so every
open socket hears of it; an add or an edit in the admin would change a room
behind its sockets' back."""

from django.contrib import admin

from realtime.chat import moderation
from realtime.chat.models import Message, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "created", "message_count"]
    search_fields = ["name"]
    readonly_fields = ["created"]

    @admin.display(description="messages")
    def message_count(self, room):
        return room.messages.count()


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "room", "author", "short_text", "created", "edited_at", "deleted_at"]
    list_filter = ["room", ("deleted_at", admin.EmptyFieldListFilter), ("edited_at", admin.EmptyFieldListFilter)]
    search_fields = ["text", "author__username", "room__name"]
    raw_id_fields = ["author"]
    readonly_fields = ["created", "client_id"]
    date_hierarchy = "created"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    # Both ways the admin deletes (the object's delete page and the "delete
    # selected" action) mark the message deleted for everyone, as its author's
    # delete does.
    def delete_model(self, request, obj):
        moderation.delete_for_everyone([obj], request.user)

    def delete_queryset(self, request, queryset):
        moderation.delete_for_everyone(queryset.select_related("room", "author"), request.user)

    @admin.display(description="text")
    def short_text(self, message):
        return "(deleted)" if message.deleted else message.text[:80]
