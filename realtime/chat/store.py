"""The chat's database work, as plain synchronous functions. The consumer
calls them through database_sync_to_async, so no query runs on the event
loop. Each function that changes a message returns it in its wire shape, and
returns only after the change is committed (autocommit): whatever the
consumer acknowledges or broadcasts afterwards is already stored."""

from datetime import UTC, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from realtime.chat import rate_windows
from realtime.chat.models import Message, Room
from realtime.sockets.errors import ClientError

SYNC_MARGIN_SECONDS = 10


class ChatRefused(ClientError):
    """The request is understood but not allowed (rate limit, someone else's
    message, a deleted one): an error frame, like any ClientError."""


def iso(moment):
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def wire(message):
    """A message as the socket sends it. A deleted message carries no text."""
    return {
        "id": message.pk,
        "author": message.author.username,
        "text": "" if message.deleted else message.text,
        "created": iso(message.created),
        "edited_at": iso(message.edited_at),
        "deleted": message.deleted,
    }


def find_room(name):
    """The room of this name, or None if nobody has posted in it yet: a room
    is stored with its first post, so looking at a room (the page, a guest's
    socket) stores nothing."""
    return Room.objects.filter(name=name).first()


def _messages(room):
    # room None (not stored yet) matches no message: the room is NOT NULL.
    return Message.objects.filter(room=room).select_related("author")


def latest(room, before=None, limit=None):
    """The `limit` newest messages (older than id `before` when given), oldest
    first, and whether older ones exist. Paging by id cursor never skips or
    repeats a message while others post: new posts get larger ids."""
    limit = limit or settings.CHAT_HISTORY_PAGE
    query = _messages(room)
    if before is not None:
        query = query.filter(pk__lt=before)
    page = list(query.order_by("-pk")[: limit + 1])
    has_more = len(page) > limit
    return [wire(m) for m in reversed(page[:limit])], has_more


def missed(room, after, since=None, limit=200):
    """What a client that reconnects has not seen: messages with id > `after`
    (oldest first, at most `limit`, `has_more` when there are more) and, when
    `since` is given, messages up to `after` that were edited, deleted or
    committed late (created) since then."""
    new = list(_messages(room).filter(pk__gt=after).order_by("pk")[: limit + 1])
    has_more = len(new) > limit
    changed = []
    if since is not None:
        # Broadcasts from different processes can overtake each other, so the
        # client's "last seen" time is widened a little; a repeat is harmless
        # (the client replaces a message by id), a miss is not.
        since -= timedelta(seconds=SYNC_MARGIN_SECONDS)
        changed = list(
            _messages(room)
            .filter(pk__lte=after)
            .filter(
                # created: a message stored just before the client's last
                # update could have been committed (and broadcast) just after.
                Q(edited_at__gte=since)
                | Q(deleted_at__gte=since)
                | Q(created__gte=since)
            )
            .order_by("pk")[:limit]
        )
    return [wire(m) for m in changed + new[:limit]], has_more


def post(room_name, user, text, client_id=""):
    """Store a post, and the room with its first post. Returns (message,
    created): a retried post with a client_id already stored returns the
    stored message and created=False."""
    posted = Message.objects.filter(room__name=room_name, author=user).select_related("author")
    if client_id:
        existing = posted.filter(client_id=client_id).first()
        if existing is not None:
            return wire(existing), False
    try:
        # The rate check and the insert commit together (rate_windows.take).
        with transaction.atomic():
            check_rate(user, "post")
            room, _ = Room.objects.get_or_create(name=room_name)
            message = Message.objects.create(room=room, author=user, text=text, client_id=client_id)
    except IntegrityError:
        # The same client_id raced in from another socket; that one is stored.
        return wire(posted.get(client_id=client_id)), False
    message.author = user
    return wire(message), True


RATE_LIMITS = {
    # action: (settings of its count and window, what the error calls it)
    "post": ("CHAT_POST_RATE_COUNT", "CHAT_POST_RATE_SECONDS", "messages"),
    "edit": ("CHAT_EDIT_RATE_COUNT", "CHAT_EDIT_RATE_SECONDS", "edits"),
}


def check_rate(user, action):
    """At most CHAT_<ACTION>_RATE_COUNT posts (or edits) per
    CHAT_<ACTION>_RATE_SECONDS per user, in the database
    (realtime/chat/rate_windows.py), so the limit holds across sockets, tabs
    and server processes. Inside the transaction that stores the post or edit."""
    count_setting, seconds_setting, noun = RATE_LIMITS[action]
    count, seconds = getattr(settings, count_setting), getattr(settings, seconds_setting)
    wait = rate_windows.take(f"chat.{action}:{user.pk}", count, seconds)
    if wait:
        raise ChatRefused(
            "rate_limited",
            f"slow down: at most {count} {noun} every {seconds:g} s; try again in {max(wait, 0.1):.1f} s",
        )


def _own_message(room, user, message_id, allow_staff=False):
    message = _messages(room).filter(pk=message_id).first()
    if message is None:
        raise ChatRefused("not_found", f"no message {message_id} in this room")
    if message.author_id != user.pk and not (allow_staff and user.is_staff):
        raise ChatRefused("forbidden", "you can only change your own messages")
    if message.deleted:
        raise ChatRefused("message_deleted", f"message {message_id} is deleted")
    return message


def edit(room, user, message_id, text):
    message = _own_message(room, user, message_id)
    now = timezone.now()
    with transaction.atomic():
        check_rate(user, "edit")
        # Conditional update: a deletion that commits between our read and
        # this write wins, and the edit reports it instead of resurrecting text.
        updated = Message.objects.filter(pk=message.pk, deleted_at__isnull=True).update(text=text, edited_at=now)
        if not updated:
            raise ChatRefused("message_deleted", f"message {message_id} is deleted")
    message.text, message.edited_at = text, now
    return wire(message)


def delete(room, user, message_id):
    message = _own_message(room, user, message_id, allow_staff=True)
    now = timezone.now()
    Message.objects.filter(pk=message.pk, deleted_at__isnull=True).update(deleted_at=now, text="")
    message.deleted_at, message.text = now, ""
    return wire(message)
