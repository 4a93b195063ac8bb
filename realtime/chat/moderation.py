"""Moderation from the Django admin: a staff member's delete goes through
the chat store and reaches every open socket of the room, in every process,
exactly as a delete by the author does (the same store call, the same
"deleted" frame through the hub). Deleting is hiding: as for an author's
delete, the row stays as the "message deleted" mark (its text forgotten), so
history pages and reconnecting clients' syncs agree with what the open
sockets were told.

Synchronous: the admin runs in a worker thread, never on the event loop.
"""

import logging

from realtime.chat import store as chat_store
from realtime.chat.stream import room_group
from realtime.consumer_kit.hub import publish_from_sync
from realtime.ops import counts

logger = logging.getLogger(__name__)


def delete_for_everyone(messages, moderator):
    """Delete `messages` (Message rows) as `moderator` (a staff user), and
    tell every socket in their rooms. Returns how many were deleted now
    (those deleted already are left as they are)."""
    deleted = 0
    for message in messages:
        try:
            frame = chat_store.with_reconnect(chat_store.delete, message.room, moderator, message.pk)
        except chat_store.ChatRefused:
            continue  # deleted already (by its author or another moderator)
        deleted += 1
        counts.CHAT_CHANGES.inc("delete", "admin")
        try:
            publish_from_sync(room_group(message.room.name), frame)
        except Exception:
            # Stored already, with its offset: open pages see the hole at the
            # room's next change, or resync when the layer is back.
            logger.exception("broadcast of moderated message %s failed", message.pk)
    return deleted
