"""/ws/debug/requests: the socket that keeps /debug/requests current."""

import asyncio
import json
import logging
from time import monotonic
from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from realtime.consumer_kit.close_codes import CLOSE_POLICY_VIOLATION
from realtime.consumer_kit.consumer import SocketConsumer
from realtime.consumer_kit.errors import ClientError
from realtime.consumer_kit.session_auth import session_is_current
from realtime.tracing import conf
from realtime.tracing.queries import Filters, may_see_sensitive
from realtime.tracing.views import live_fragments

logger = logging.getLogger(__name__)

LIVE_INTERVAL_SECONDS = 1.0


def still_allowed(session_key, user):
    """Whether the socket's session still stands and its user is still
    active staff; and whether they may still see sensitive events.
    Blocking (database)."""
    if not (session_is_current(session_key, user) and user.is_staff):
        return False, False
    # Django's auth backend caches permissions on the user object.
    for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache, None)
    return True, may_see_sensitive(user)


class TraceLiveConsumer(SocketConsumer):
    """/ws/debug/requests?<the page's filters>: every second, the summary and
    the list as rendered HTML fragments, sent when they changed. Staff only:
    without a staff session the handshake is refused (403).

    The socket outlives the request that opened it, so every
    REALTIME_TRACE_LIVE_RECHECK_SECONDS it asks again whether its session
    stands (not logged out, not expired, same password) and its user is
    still active staff; if not, it closes with 1008 and sends nothing more."""

    uses_database = True

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not (user.is_active and user.is_staff):
            self.trace_log.errorf("rejected: not a staff session")
            self.refusal_reason = "auth"
            await self.close()
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        self.filters = Filters(query)
        self.user = user
        session = self.scope.get("session")
        self.session_key = session.session_key if session is not None else None
        self.see_sensitive = await database_sync_to_async(may_see_sensitive)(user)
        await self.accept()
        self.pusher = asyncio.ensure_future(self.push())

    async def push(self):
        last = None
        recheck = conf.setting("REALTIME_TRACE_LIVE_RECHECK_SECONDS")
        next_check = monotonic() + recheck
        while True:
            try:
                if monotonic() >= next_check:
                    allowed, self.see_sensitive = await database_sync_to_async(still_allowed)(
                        self.session_key, self.user
                    )
                    if not allowed:
                        await self.close_with(CLOSE_POLICY_VIOLATION, "session ended or no longer staff")
                        return
                    next_check = monotonic() + recheck
                fragments = await database_sync_to_async(live_fragments)(self.filters, self.see_sensitive)
            except Exception:  # the database is busy or away: nothing is sent; try again next second
                logger.warning("live trace update failed", exc_info=True)
            else:
                if fragments != last:
                    last = fragments
                    await self.send(text_data=json.dumps(fragments))
            await asyncio.sleep(min(LIVE_INTERVAL_SECONDS, recheck))

    async def receive(self, text_data=None, bytes_data=None):
        raise ClientError("read_only", "this socket only sends updates")

    async def disconnect(self, code):
        pusher = getattr(self, "pusher", None)
        if pusher is not None:
            pusher.cancel()
