"""When a room's broadcasts may have been lost, its open sockets fetch what
they missed.

A socket's client finds most holes itself: every change carries its offset
(realtime/chat/stream.py), and a frame beyond the next one shows a hole. But
a lost broadcast followed by silence shows nothing, so the server says when
its stream may have broken:

- the hub's LayerWatch (realtime/consumer_kit/layer_watch.py) saw the channel
  layer lost (Redis restarted, a failover, this process stalled) and now
  back: every chat socket of this process gets {"type": "resync"};
- a broadcast failed here (stored and acknowledged all the same): once the
  layer is back, {"type": "resync"} is published to the room, so the
  sockets of every process fetch it.

A client answers "resync" with a sync from the last offset it holds.

And a post retried after its first process died between storing and
publishing (the client never got its ack) is published by the process the
retry reaches, if that process never saw its offset come through the room's
group (`never_delivered`): otherwise, in a room where nobody posts again,
the other members would not see the hole.
"""

import logging
import weakref

from realtime.chat.stream import RESYNC, is_room_group

logger = logging.getLogger(__name__)

_unsent = weakref.WeakKeyDictionary()  # hub -> room groups whose broadcast failed
_newest = weakref.WeakKeyDictionary()  # hub -> {room group: (epoch, newest offset delivered here)}


def watch(hub):
    """Resync this hub's rooms whenever its channel layer comes back."""
    hub.on_layer_back(layer_came_back)


def broadcast_failed(hub, group):
    """A change of `group`'s room could not be published: its members in
    every process resync once the layer is back (hub.publish told the
    watch already)."""
    _unsent.setdefault(hub, set()).add(group)


def delivered(hub, group, frame):
    """A frame of `group` came through the channel layer to this process."""
    offset = frame.get("offset")
    if offset is None:
        return
    newest = _newest.setdefault(hub, {})
    epoch, seen = newest.get(group, (None, 0))
    if frame.get("epoch") != epoch or offset > seen:
        newest[group] = (frame.get("epoch"), offset)


def never_delivered(hub, group, frame):
    """Is `frame` (a stored change) newer than anything of its room this
    process received? Then its broadcast may never have happened. Once
    published, it is delivered here too, so a retry repeated publishes once."""
    epoch, seen = _newest.get(hub, {}).get(group, (None, 0))
    return frame["epoch"] != epoch or frame["offset"] > seen


async def layer_came_back(hub):
    for group in [group for group in hub.members if is_room_group(group)]:
        await hub.deliver(group, RESYNC)
    unsent = _unsent.pop(hub, set())
    for group in sorted(unsent):
        try:
            await hub.publish(group, RESYNC)
        except Exception:
            # Lost again: the next time the layer is back, again.
            broadcast_failed(hub, group)
            logger.debug("resync of %s not published; will retry", group)
