"""The chat's database work, as plain synchronous functions. The consumer
calls them through database_sync_to_async, so no query runs on the event
loop. Each function that changes a message returns its change frame (the
message in its wire shape, with its offset and epoch in the room's stream:
realtime/chat/stream.py), and returns only after the change is committed:
whatever the consumer acknowledges or broadcasts afterwards is already
stored. A dropped connection is retried once after reconnecting
(`with_reconnect`); a database that stays away is DatabaseUnavailable."""

import time
from datetime import UTC

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from realtime.chat import rate_windows, stream
from realtime.chat.models import Change, Message, Room
from realtime.consumer_kit.errors import ClientError
from realtime.ops.outages import DATABASE

# A dropped database connection (the server restarted, a proxy reset it) is
# retried once, after reconnecting; the database gets this long to answer
# again (PostgreSQL's `pg_ctl restart -m fast` takes about a second).
RECONNECT_SECONDS = 8.0
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


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


def joined(room):
    """What a socket gets on connect: the latest messages, and the offset and
    epoch of the room's stream they stand at. The offset is read first: the
    messages read after it may be newer (a change then arrives twice and is
    skipped by offset), never older (a change would be lost)."""
    offset, epoch = stream.head(room)
    messages, has_more = latest(room)
    return {"messages": messages, "has_more": has_more, "offset": offset, "epoch": epoch}


def sync(room, after, epoch):
    """The changes after offset `after` (stream.changes_after); when the
    client's epoch is not the room's, the latest messages to start over from."""
    answer = stream.changes_after(room, after, epoch, wire)
    if answer.get("reset"):
        answer["messages"], answer["has_more_before"] = latest(room)
    return answer


def post(room_name, user, text, client_id=""):
    """Store a post, and the room with its first post. Returns (frame,
    created): the change frame (stream.change_frame) of the stored message;
    a retried post with a client_id already stored returns the stored
    message (deleted, if it was since: never its text again) at its original
    offset, and created=False."""
    try:
        return _post(room_name, user, text, client_id)
    except TRANSIENT_ERRORS as error:
        if not connection_lost():
            raise
        reconnect(error)
    # Whether or not the first try committed, nobody has broadcast it: this
    # request is still the post's origin.
    try:
        frame, _ = _post(room_name, user, text, client_id)
    except TRANSIENT_ERRORS:
        raise DatabaseUnavailable() from None
    return frame, True


def _post(room_name, user, text, client_id):
    posted = Message.objects.filter(room__name=room_name, author=user).select_related("author", "room")
    if client_id:
        existing = posted.filter(client_id=client_id).first()
        if existing is not None:
            return _stored_post(existing), False
    try:
        # The rate check, the offset and the insert commit together; the
        # rate row is locked before the room row, as in edit().
        with transaction.atomic():
            check_rate(user, "post")
            room = stream.locked_room(room_name, create=True)
            message = Message.objects.create(room=room, author=user, text=text, client_id=client_id)
            offset = stream.append(room, Change.POST, message)
    except IntegrityError:
        # The same client_id raced in from another socket; that one is stored.
        return _stored_post(posted.get(client_id=client_id)), False
    message.author = user
    return stream.change_frame(Change.POST, wire(message), offset, room.epoch, iso(message.created)), True


def _stored_post(message):
    return stream.change_frame(
        Change.POST, wire(message), stream.post_offset(message), message.room.epoch, iso(message.created)
    )


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
        locked = stream.locked_room(room.name)
        # Conditional update: a deletion that commits between our read and
        # this write wins, and the edit reports it instead of resurrecting text.
        updated = Message.objects.filter(pk=message.pk, deleted_at__isnull=True).update(text=text, edited_at=now)
        if not updated:
            raise ChatRefused("message_deleted", f"message {message_id} is deleted")
        offset = stream.append(locked, Change.EDIT, message)
    message.text, message.edited_at = text, now
    return stream.change_frame(Change.EDIT, wire(message), offset, locked.epoch, iso(now))


def delete(room, user, message_id):
    message = _own_message(room, user, message_id, allow_staff=True)
    now = timezone.now()
    with transaction.atomic():
        locked = stream.locked_room(room.name)
        updated = Message.objects.filter(pk=message.pk, deleted_at__isnull=True).update(deleted_at=now, text="")
        if not updated:
            raise ChatRefused("message_deleted", f"message {message_id} is deleted")
        offset = stream.append(locked, Change.DELETE, message)
    message.deleted_at, message.text = now, ""
    return stream.change_frame(Change.DELETE, wire(message), offset, locked.epoch, iso(now))


class DatabaseUnavailable(ClientError):
    """The database did not answer, even after reconnecting: an error frame
    ("unavailable"), though the client did nothing wrong. Whether a post got
    stored before the connection dropped is unknown: sent again with the
    same client_id, it is stored once."""

    def __init__(self):
        super().__init__("unavailable", "the database is not answering; try again in a moment")


class _Outage:
    """Whether the last reconnect of this process gave up: then the next
    ones try once, without waiting (a dead database answers every request at
    once). What the log says is realtime.ops.outages.DATABASE's: one line
    when it goes, one when it is back."""

    gave_up = False


def reconnect(error):
    """After a transient error: drop the connection and wait (up to
    RECONNECT_SECONDS) until a new one opens. Raises DatabaseUnavailable
    if none does, and `error` again inside a transaction (it must be redone
    whole by its caller)."""
    if connection.in_atomic_block:
        raise error
    DATABASE.failed("a chat request (reconnecting to retry it)", error)
    deadline = time.monotonic() + (0 if _Outage.gave_up else RECONNECT_SECONDS)
    while True:
        try:
            connection.close()
        except TRANSIENT_ERRORS:
            pass
        try:
            connection.ensure_connection()
        except TRANSIENT_ERRORS:
            if time.monotonic() >= deadline:
                _Outage.gave_up = True
                raise DatabaseUnavailable() from None
            time.sleep(0.1)
            continue
        _Outage.gave_up = False
        DATABASE.answered()
        return


def connection_lost():
    """After a database error: was it the connection (closed, reset, the
    server restarting), not the query (a missing table, a constraint)?"""
    try:
        return connection.connection is None or not connection.is_usable()
    except Exception:
        return True


def with_reconnect(function, *args):
    """function(*args); if the connection was lost meanwhile, once more after
    reconnect(). For reads and for changes that are safe to redo (post()
    does its own, so that it knows it is still the post's origin)."""
    try:
        return function(*args)
    except TRANSIENT_ERRORS as error:
        if not connection_lost():
            raise
        reconnect(error)
    try:
        return function(*args)
    except TRANSIENT_ERRORS:
        raise DatabaseUnavailable() from None
