"""Each room's stream of changes: offsets and an epoch, as Centrifugo's
history streams have, kept in the database next to the messages.

Every post, edit and delete of a room takes the next offset (1, 2, 3, ...)
in the transaction that stores it, with the room's row locked
(`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's write lock is taken at
BEGIN), so offsets are committed in their order and the stored stream has
no hole: once a reader sees the room at offset N, every change up to N is
committed and readable. The epoch is the room's random id: a room deleted
and made again starts over at 1 under a new epoch.

Every frame about a change carries its offset and epoch: the broadcast,
the author's ack, and each change a `sync` returns. A client keeps the last
offset up to which it has applied everything; a frame beyond the next one
shows a hole, and it asks for the changes after the offset it holds. Each
change comes back with its message as stored now (so replaying an old post
shows the message as later edited or deleted); applied in offset order and
skipped when not beyond the offset held, nothing shows twice or out of order.

Pure database work, synchronous (called through database_sync_to_async).
"""

from django.db import transaction

from realtime.chat.models import Change, Message, Room
from realtime.consumer_kit.errors import ClientError

# Changes per "sync" answer; the client asks again while has_more.
SYNC_PAGE = 200
# What a socket is told when changes may have been lost without a trace
# (realtime/chat/recovery.py): fetch what came after the offset you hold.
RESYNC = {"type": "resync"}
ROOM_GROUP_PREFIX = "chat."


def room_group(room):
    """The channel-layer group that carries a room's changes to every process."""
    return f"{ROOM_GROUP_PREFIX}{room}"


def is_room_group(group):
    return group.startswith(ROOM_GROUP_PREFIX)


def change_frame(kind, message, offset, epoch, at=None):
    """The one shape of a change on the wire: what every socket of the room
    gets (broadcast), and each entry of a sync answer. `kind` is "message",
    "edited" or "deleted"; `message` its wire shape (store.wire)."""
    frame = {"type": kind, "offset": offset, "epoch": epoch, "message": message}
    if at is not None:
        frame["at"] = at
    return frame


def locked_room(room_name, create=False):
    """The room's row, locked until the caller's transaction ends (None if
    not stored and not `create`)."""
    if create:
        Room.objects.get_or_create(name=room_name)
    return Room.objects.select_for_update().filter(name=room_name).first()


def append(room, kind, message):
    """Give `message`'s change (a post, edit or delete) the room's next
    offset. Inside transaction.atomic() with `room` from locked_room()."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("stream.append() must run inside transaction.atomic()")
    room.last_offset += 1
    room.save(update_fields=["last_offset"])
    Change.objects.create(room=room, offset=room.last_offset, message=message, kind=kind)
    return room.last_offset


def head(room):
    """(last offset, epoch) of a stored room as committed now; (0, "") for a
    room not stored yet (a stream that has not begun)."""
    if room is None:
        return 0, ""
    row = Room.objects.filter(pk=room.pk).values_list("last_offset", "epoch").first()
    return row if row is not None else (0, "")


def post_offset(message):
    """The offset at which `message` was posted."""
    return Change.objects.filter(message=message, kind=Change.POST).values_list("offset", flat=True).first()


def changes_after(room, after, epoch, wire):
    """What a client holding the room up to offset `after` (of `epoch`)
    missed: {"after", "changes", "has_more", "offset", "epoch"}, the changes
    in offset order (at most SYNC_PAGE), `offset` the last one returned
    (the client holds everything up to it once applied).

    With an epoch other than the room's (the room was made again, or the
    client never knew it): {"reset": True, "offset", "epoch"} and no changes;
    the client starts over from the latest messages (store.latest).

    An offset beyond the room's last one is refused (invalid_field): the
    client would otherwise skip the changes up to it."""
    last, current_epoch = head(room)
    if epoch is not None and epoch != current_epoch and not (epoch == "" and after == 0):
        return {"after": after, "reset": True, "changes": [], "has_more": False, "offset": last, "epoch": current_epoch}
    if after > last:
        raise ClientError("invalid_field", f'"after" is {after}, beyond the room\'s last offset {last}')
    rows = (
        Change.objects.filter(room=room, offset__gt=after, offset__lte=last)
        .select_related("message__author")
        .order_by("offset")[:SYNC_PAGE]
    )
    changes = [change_frame(change.kind, wire(change.message), change.offset, current_epoch) for change in rows]
    newest = changes[-1]["offset"] if changes else after
    return {"after": after, "changes": changes, "has_more": newest < last, "offset": newest, "epoch": current_epoch}


def add_posts(room_name, author, texts):
    """Store `texts` as posts by `author`, each with its offset, in one
    transaction (seeding a room for tests and benchmarks). Returns their ids."""
    with transaction.atomic():
        room = locked_room(room_name, create=True)
        messages = Message.objects.bulk_create([Message(room=room, author=author, text=text) for text in texts])
        if not all(message.pk for message in messages):  # a backend that does not return ids
            messages = list(Message.objects.filter(room=room).order_by("-pk")[: len(texts)])[::-1]
        Change.objects.bulk_create(
            [
                Change(room=room, offset=room.last_offset + n, message=message, kind=Change.POST)
                for n, message in enumerate(messages, 1)
            ]
        )
        room.last_offset += len(messages)
        room.save(update_fields=["last_offset"])
    return [message.pk for message in messages]
