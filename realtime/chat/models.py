"""The chat's tables: rooms and their messages (app label `realtime`, so the
tables stay realtime_room and realtime_message)."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

# Room names appear in URLs (/chat/<room>/, /ws/chat/<room>/) and in channel-
# layer group names, which allow only ASCII letters, digits, "-", "_" and "."
# and fewer than 100 characters.
ROOM_NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"


class Room(models.Model):
    """A chat room. Created on its first visit (page or socket)."""

    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(rf"^{ROOM_NAME_PATTERN}$", "letters, digits, - and _ only")],
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Message(models.Model):
    """One chat message. A deletion keeps the row as a "message deleted" mark
    (so history keeps its shape and ids) but forgets the text."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages")
    text = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # An id the sender chose for this post, so a post retried after a lost
    # acknowledgement is stored once (per room: ids are the client's to pick).
    client_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # History pages: WHERE room = ? AND id < ? ORDER BY id DESC LIMIT 51.
            models.Index(fields=["room", "id"], name="chat_message_room_id"),
            # The per-user rate limit counts a user's recent posts.
            models.Index(fields=["author", "created"], name="chat_message_author_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "author", "client_id"],
                condition=~models.Q(client_id=""),
                name="chat_message_unique_client_id",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.author} in {self.room}"

    @property
    def deleted(self):
        return self.deleted_at is not None
