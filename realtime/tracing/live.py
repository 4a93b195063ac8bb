"""/ws/debug/requests: the socket that keeps /debug/requests current."""

import asyncio
import json
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from realtime.sockets.consumer import SocketConsumer
from realtime.sockets.errors import ClientError
from realtime.tracing.queries import Filters, may_see_sensitive
from realtime.tracing.views import live_fragments

logger = logging.getLogger(__name__)

LIVE_INTERVAL_SECONDS = 1.0


class TraceLiveConsumer(SocketConsumer):
    """/ws/debug/requests?<the page's filters>: every second, the summary and
    the list as rendered HTML fragments, sent when they changed. Staff only:
    without a staff session the handshake is refused (403)."""

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
        self.see_sensitive = await database_sync_to_async(may_see_sensitive)(user)
        await self.accept()
        self.pusher = asyncio.ensure_future(self.push())

    async def push(self):
        last = None
        while True:
            try:
                fragments = await database_sync_to_async(live_fragments)(self.filters, self.see_sensitive)
            except Exception:  # the database is busy or away: try again next second
                logger.warning("live trace update failed", exc_info=True)
            else:
                if fragments != last:
                    last = fragments
                    await self.send(text_data=json.dumps(fragments))
            await asyncio.sleep(LIVE_INTERVAL_SECONDS)

    async def receive(self, text_data=None, bytes_data=None):
        raise ClientError("read_only", "this socket only sends updates")

    async def disconnect(self, code):
        pusher = getattr(self, "pusher", None)
        if pusher is not None:
            pusher.cancel()
