"""Rooms and messages in the Django admin."""

from django.contrib import admin

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

    @admin.display(description="text")
    def short_text(self, message):
        return "(deleted)" if message.deleted else message.text[:80]
