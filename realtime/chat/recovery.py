"""When a room's broadcasts may have been lost, its open sockets fetch what
they missed.

A socket's client finds most holes itself: every change carries its offset
(realtime/chat/stream.py), and a frame beyond the next one shows a hole. But
a lost broadcast followed by silence shows nothing, so the server says when
its stream may have broken:

- the hub's LayerWatch (realtime/sockets/layer_watch.py) saw the channel
  layer lost (Redis restarted, a failover, this process stalled) and now
  back: every chat socket of this process gets {"type": "resync"};
- a broadcast failed here (stored and acknowledged all the same): once the
  layer is back, {"type": "resync"} is published to the room, so the
  sockets of every process fetch it.

A client answers "resync" with a sync from the last offset it holds.
"""

import logging
import weakref

from realtime.chat.stream import RESYNC, is_room_group

logger = logging.getLogger(__name__)

_unsent = weakref.WeakKeyDictionary()  # hub -> room groups whose broadcast failed


def watch(hub):
    """Resync this hub's rooms whenever its channel layer comes back."""
    hub.on_layer_back(layer_came_back)


def broadcast_failed(hub, group):
    """A change of `group`'s room could not be published: its members in
    every process resync once the layer is back (hub.publish told the
    watch already)."""
    _unsent.setdefault(hub, set()).add(group)


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
