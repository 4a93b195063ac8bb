"""Channels' AuthMiddlewareStack without its thread hop for handshakes that
carry no session cookie.

Stock AuthMiddleware resolves `scope["user"]` with `database_sync_to_async`
on every connection, and those calls run one at a time in a single worker
thread. A client with no session cookie (any non-browser client, a load
test, a reconnecting fleet of devices) is anonymous without asking the
database, yet waited its turn: 10,000 clients connecting at once queued for
over 10 s and Daphne's handshake timeout dropped most of them. A handshake
with a session cookie is resolved exactly as before.
"""

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser


class LeanAuthMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope):
        if settings.SESSION_COOKIE_NAME not in scope.get("cookies", {}):
            scope["user"]._wrapped = AnonymousUser()
            return
        await super().resolve_scope(scope)


def AuthMiddlewareStack(inner):
    """Drop-in for channels.auth.AuthMiddlewareStack."""
    return CookieMiddleware(SessionMiddleware(LeanAuthMiddleware(inner)))
