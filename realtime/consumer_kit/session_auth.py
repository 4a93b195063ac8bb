"""SessionAuthStack: Channels' AuthMiddlewareStack (cookies, session, user),
with a short path for handshakes that carry no session cookie. Its own name,
because it is not Channels' stack.

Stock AuthMiddlewareStack (cookies, session, user: three middlewares) copies
the scope three times, keeps three more coroutine frames and a session
wrapper alive for the life of every socket, and resolves `scope["user"]` with
`database_sync_to_async`, whose calls run one at a time in a single worker
thread. A client with no session cookie (any non-browser client, a load
test, a fleet of devices reconnecting) is anonymous without asking the
database, yet it queued for that thread: 10,000 clients connecting at once
waited over 10 s and Daphne's handshake timeout dropped most of them; and the
extra copies cost ~3 KiB per idle socket. Such a handshake now gets the same
scope keys (`cookies`, an empty `session`, an AnonymousUser) in one copy.
A handshake with a session cookie goes through the stock stack unchanged.
"""

from importlib import import_module

from asgiref.sync import markcoroutinefunction
from channels.auth import AuthMiddlewareStack as StockAuthMiddlewareStack
from channels.auth import get_user
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import parse_cookie


def cookies_of(scope):
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return parse_cookie(value.decode("latin1"))
    return {}


class SessionAuthStack:
    """Sets scope["cookies"], scope["session"] and scope["user"] as
    channels.auth.AuthMiddlewareStack(inner) does."""

    def __init__(self, inner):
        self.inner = inner
        self.stock = StockAuthMiddlewareStack(inner)
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    # Not async: it returns the inner application's coroutine instead of
    # awaiting it, so no frame of its own stays alive for the socket's life.
    @markcoroutinefunction
    def __call__(self, scope, receive, send):
        cookies = cookies_of(scope)
        if settings.SESSION_COOKIE_NAME in cookies:
            return self.stock(scope, receive, send)
        scope = dict(scope, cookies=cookies, session=self.session_store(None), user=AnonymousUser())
        return self.inner(scope, receive, send)


def current_user(session_key):
    """The user whose live session `session_key` is, decided by Channels' own
    get_user as for a new connection (Django's rules: not expired, not
    logged out, made with the user's current password hash, the user still
    active; a session whose hash no longer matches is flushed, as Django
    does); AnonymousUser otherwise. Blocking: we are already off the loop,
    so get_user's own function, not its database_sync_to_async wrapper."""
    if not session_key:
        return AnonymousUser()
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return get_user.func({"session": session})


def session_is_current(session_key, user):
    """Whether `session_key` is still a live session of `user` (current_user);
    if so, `user`'s password, is_active and is_staff are refreshed from the
    database. Blocking: call through database_sync_to_async.

    For sockets, which outlive the request that opened them: the chat checks
    it before every change, the live tracing socket every few seconds."""
    current = current_user(session_key)
    if not current.is_authenticated or current.pk != user.pk:
        return False
    user.password, user.is_active, user.is_staff = current.password, current.is_active, current.is_staff
    return True
