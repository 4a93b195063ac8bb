"""The chat's database work, as plain synchronous functions. The consumer
calls them through database_sync_to_async, so no query runs on the event
loop. Each function that changes a message returns it in its wire shape, and
returns only after the change is committed (autocommit): whatever the
consumer acknowledges or broadcasts afterwards is already stored."""

from datetime import timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from realtime.chat.models import Message, Room
from realtime.sockets.errors import ClientError

SYNC_MARGIN_SECONDS = 10


class ChatRefused(ClientError):
    """The request is understood but not allowed (rate limit, someone else's
    message, a deleted one): an error frame, like any ClientError."""


def iso(moment):
    if moment is None:
        return None
    return moment.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def session_is_current(session_key, user):
    """Whether `session_key` is still a live session of `user`, as Django's
    auth would decide it for a new request (same user id, and the password
    hash it was made with, so a password change ends it)."""
    from importlib import import_module

    from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
    from django.utils.crypto import constant_time_compare

    if not session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    if store.get(SESSION_KEY) != str(user.pk):
        return False
    user.refresh_from_db(fields=["password", "is_active", "is_staff"])
    session_hash = store.get(HASH_SESSION_KEY)
    return user.is_active and bool(session_hash) and constant_time_compare(session_hash, user.get_session_auth_hash())


def get_room(name):
    room, _ = Room.objects.get_or_create(name=name)
    return room


def _messages(room):
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


def post(room, user, text, client_id=""):
    """Store a post. Returns (message, created): a retried post with a client_id
    already stored returns the stored message and created=False."""
    if client_id:
        existing = _messages(room).filter(author=user, client_id=client_id).first()
        if existing is not None:
            return wire(existing), False
    check_rate(user)
    try:
        with transaction.atomic():
            message = Message.objects.create(room=room, author=user, text=text, client_id=client_id)
    except IntegrityError:
        # The same client_id raced in from another socket; that one is stored.
        return wire(_messages(room).get(author=user, client_id=client_id)), False
    message.author = user
    return wire(message), True


def check_rate(user):
    """At most CHAT_POST_RATE_COUNT posts per CHAT_POST_RATE_SECONDS per user.
    Counted in the database, so the limit holds across sockets, tabs and
    server processes, and survives a restart."""
    count, seconds = settings.CHAT_POST_RATE_COUNT, settings.CHAT_POST_RATE_SECONDS
    if count <= 0:
        return
    window_start = timezone.now() - timedelta(seconds=seconds)
    recent = list(
        Message.objects.filter(author=user, created__gte=window_start)
        .order_by("-created")
        .values_list("created", flat=True)[:count]
    )
    if len(recent) >= count:
        wait = (recent[-1] - window_start).total_seconds()
        raise ChatRefused(
            "rate_limited",
            f"slow down: at most {count} messages every {seconds:g} s; "
            f"try again in {max(wait, 0.1):.1f} s",
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
    # Conditional update: a deletion that commits between our read and this
    # write wins, and the edit reports it instead of resurrecting text.
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
