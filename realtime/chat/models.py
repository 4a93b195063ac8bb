"""The chat's tables: rooms, their messages, each room's stream of changes,
and the rate limits' windows (app label `realtime`, so the tables stay
realtime_room, realtime_message, realtime_change and realtime_ratewindow)."""

import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

# Room names appear in URLs (/chat/<room>/, /ws/chat/<room>/) and in channel-
# layer group names, which allow only ASCII letters, digits, "-", "_" and "."
# and fewer than 100 characters.
ROOM_NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"


def new_epoch():
    """A room stream's epoch: random, so a room deleted and made again under
    the same name (offsets starting over at 1) is told apart."""
    return secrets.token_hex(8)


class Room(models.Model):
    """A chat room. Stored with its first post; until then its page and
    socket show an empty room."""

    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(rf"^{ROOM_NAME_PATTERN}$", "letters, digits, - and _ only")],
    )
    created = models.DateTimeField(auto_now_add=True)
    # The offset of the room's newest change (realtime/chat/stream.py): every
    # post, edit and delete takes the next one, in the transaction that
    # stores it, with this row locked.
    last_offset = models.BigIntegerField(default=0)
    epoch = models.CharField(max_length=16, default=new_epoch)

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


class Change(models.Model):
    """One change of a room's stream (a post, an edit or a delete) at its
    offset: 1, 2, 3, ... per room, no holes. A client that missed some asks
    for the changes after the last offset it holds and gets each with its
    message as stored now (realtime/chat/stream.py)."""

    POST, EDIT, DELETE = "message", "edited", "deleted"
    KINDS = [(POST, "post"), (EDIT, "edit"), (DELETE, "delete")]

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="changes")
    offset = models.BigIntegerField()
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=8, choices=KINDS)

    class Meta:
        ordering = ["room", "offset"]
        constraints = [models.UniqueConstraint(fields=["room", "offset"], name="chat_change_room_offset")]

    def __str__(self):
        return f"{self.room} @{self.offset}: {self.kind} #{self.message_id}"


class RateWindow(models.Model):
    """The last uses of one rate-limited action by one user or client
    (realtime/chat/rate_windows.py): Unix times, at most the limit's count."""

    key = models.CharField(max_length=200, unique=True)
    recent = models.JSONField(default=list)
    updated = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.key
