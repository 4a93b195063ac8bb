"""The base of every socket consumer: one lean receive loop, message size and
rate limits, error frames, and group membership through the process hub."""

import asyncio
import logging
from functools import update_wrapper
from time import monotonic

from asgiref.sync import markcoroutinefunction
from channels.db import aclose_old_connections
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import InterfaceError, OperationalError

from realtime import tracing
from realtime.consumer_kit import codecs, limits
from realtime.consumer_kit.close_codes import CLOSE_NORMAL, CLOSE_TOO_BIG
from realtime.consumer_kit.errors import ClientError
from realtime.consumer_kit.hub import get_hub
from realtime.ops import socket_stats
from realtime.ops.outages import DATABASE
from realtime.server import extensions
from realtime.tracing.redaction import Subprotocols

logger = logging.getLogger(__name__)
# Message type -> handler method name ("websocket.receive" -> "websocket_receive"),
# computed once per type instead of a str.replace per message.
HANDLER_NAMES: dict[str, str] = {}


class SocketConsumer(AsyncWebsocketConsumer):
    """Subclasses set `codec` (used for error frames) and implement
    `receive(text_data=None, bytes_data=None)`; they may raise ClientError.

    Differences from AsyncWebsocketConsumer, and why:
    - No per-socket channel-layer channel: groups go through the hub,
      one channel per process, so a tick to 10,000 sockets is not 10,000
      channel-layer sends.
    - One plain receive loop instead of `await_many_dispatch` (a task and an
      `asyncio.wait` per message).
    - `aclose_old_connections()` (a thread hop per message) only for
      consumers that set `uses_database = True`.
    """

    codec = codecs.JSON
    uses_database = False
    handshake_accepted = False
    refusal_reason = "other"  # what a close before accept counts as (metrics)
    max_message_bytes_setting = limits.MAX_MESSAGE_BYTES
    # The groups this socket joined; a set of its own from the first join
    # (an empty set is 216 bytes, and most sockets join none).
    hub_groups: frozenset[str] | set[str] = frozenset()

    @classmethod
    def as_asgi(cls, **initkwargs):
        """Channels' as_asgi, with an app that returns the new consumer's
        coroutine instead of awaiting it: one coroutine frame less kept alive
        per open socket."""

        @markcoroutinefunction
        def app(scope, receive, send):
            return cls(**initkwargs)(scope, receive, send)

        app.consumer_class = cls
        app.consumer_initkwargs = initkwargs
        return update_wrapper(app, cls, updated=())

    async def __call__(self, scope, receive, send):
        self.scope = scope
        # The server's synchronous writer for broadcasts (send_text_now), or
        # None under another ASGI server.
        self.broadcast_writer = extensions.broadcast_writer(scope)
        self.channel_layer = None
        self.base_send = send
        self.closing = False
        self.max_message_bytes = limits.max_message_bytes(self.max_message_bytes_setting)
        self.rate_limit = limits.flood_throttle()
        # Tracing: the connection's event log, made by the tracing ASGI
        # middleware (counts, accept, close and why), and the recorder of one
        # "websocket.Receive" trace per message.
        self.trace_log = scope.get("realtime.trace_log", tracing.NULL_TRACE)
        self.record_message = tracing.message_recorder()
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            await self.leave_all_groups()

    async def dispatch(self, message):
        kind = message["type"]
        name = HANDLER_NAMES.get(kind)
        if name is None:
            name = HANDLER_NAMES[kind] = kind.replace(".", "_")
        handler = getattr(self, name, None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        if self.uses_database:
            await aclose_old_connections()
        await handler(message)

    async def websocket_receive(self, message):
        if self.closing:
            return  # we asked to close; the client's late messages are moot
        text = message.get("text")
        data = text if text is not None else message.get("bytes")
        if data is None:
            return
        self.trace_log.messages_in += 1
        # One "websocket.Receive" trace per message, as in the Bendersky
        # sample: two clock reads and a few appends; formatted off the loop.
        started = monotonic()
        note = None  # what the trace should say went wrong (or slowed it)
        failed = True
        try:
            # Only a message that could be over the limit (UTF-8: at most 4
            # bytes a character) is measured.
            if len(data) * 4 > self.max_message_bytes and self.too_big(data):
                note = f"larger than {self.max_message_bytes} bytes: closing with 1009"
                await self.close_with(CLOSE_TOO_BIG, f"message larger than {self.max_message_bytes} bytes")
                return
            delay = self.rate_limit.take(started)
            if delay:
                note = f"throttled for {delay:.3f}s"
                socket_stats.throttled(self.scope)
                await asyncio.sleep(delay)
            if text is not None:
                await self.receive(text_data=text)
            else:
                await self.receive(bytes_data=data)
            failed = False
        except codecs.DecodeError as error:
            note = f"decode error {error.code}: {error.message}"
            await self.send_error(error.code, error.message)
        except ClientError as error:
            note = f"client error {error.code}: {error.message}"
            await self.send_error(error.code, error.message)
        except Exception as error:
            # The client gets a short error frame; the traceback stays in our
            # log, except for the database being away: one line while it is.
            note = f"internal error {type(error).__name__}"
            if isinstance(error, (OperationalError, InterfaceError)):
                DATABASE.failed(f"a message on {self.scope.get('path')}", error)
            else:
                logger.exception("error handling a message on %s", self.scope.get("path"))
            await self.send_error("internal_error", "the server could not handle this message")
        finally:
            if self.record_message is not None:
                self.record_message(self.scope["path"], data, started, note, failed)

    async def accept(self, subprotocol=None, headers=None):
        self.handshake_accepted = True
        self.trace_log.accepted = True
        if subprotocol:
            self.trace_log.printf("accepted, subprotocol %s", Subprotocols([subprotocol]))
        else:
            self.trace_log.printf("accepted")
        await super().accept(subprotocol, headers)

    async def close(self, code=None, reason=None):
        if self.trace_log.accepted:  # else the tracing middleware logs "rejected"
            self.trace_log.printf("server closed with code %s", code or CLOSE_NORMAL)
        if not self.handshake_accepted:
            socket_stats.refused(self.scope, self.refusal_reason)
        await super().close(code, reason)

    async def websocket_disconnect(self, message):
        self.trace_log.printf("disconnected, code %s", message.get("code"))
        await self.disconnect(message.get("code"))
        raise StopConsumer()

    def too_big(self, data):
        limit = self.max_message_bytes
        if len(data) > limit:
            return True
        # UTF-8 takes at most 4 bytes a character: encode only when it matters.
        return isinstance(data, str) and len(data) * 4 > limit and len(data.encode("utf-8")) > limit

    async def send(self, text_data=None, bytes_data=None, close=False):
        """AsyncWebsocketConsumer.send, straight to the ASGI send.

        Why: it runs for every reply and for every socket of every broadcast
        (3,000 times a tick for /ws/time); going through
        AsyncWebsocketConsumer.send and AsyncConsumer.send costs two more
        coroutine frames each time for nothing. Same messages, same checks.
        """
        self.trace_log.messages_out += 1
        if text_data is not None:
            await self.base_send({"type": "websocket.send", "text": text_data})
        elif bytes_data is not None:
            await self.base_send({"type": "websocket.send", "bytes": bytes_data})
        else:
            raise ValueError("You must pass one of bytes_data or text_data")
        if close:
            await self.close(close)

    def send_text_now(self, text):
        """send(text_data=text) done synchronously, for the hub's broadcast
        loop: straight to the server's broadcast writer (realtime.server
        offers it in scope["extensions"]). False when there is none (another ASGI server): the
        caller then awaits send()."""
        writer = self.broadcast_writer
        if writer is None:
            return False
        self.trace_log.messages_out += 1
        writer.send_broadcast_text(text)
        return True

    async def send_value(self, value, codec=None):
        payload, frame_type = (codec or self.codec).marshal(value)
        if frame_type == codecs.BINARY:
            await self.send(bytes_data=payload)
        else:
            await self.send(text_data=payload)

    async def send_error(self, code, message):
        payload, _ = self.codec.error(code, message)
        await self.send(text_data=payload)

    async def close_with(self, code, reason=""):
        self.closing = True
        logger.info("closing %s with %s: %s", self.scope.get("path"), code, reason)
        if code == CLOSE_NORMAL:
            self.trace_log.printf("closing with %d: %s", code, reason)
        else:
            self.trace_log.errorf("closing with %d: %s", code, reason)
        await self.close(code, reason)

    # -- groups -------------------------------------------------------------

    async def join_group(self, group, every_shard=False):
        """Receive `group`'s messages (hub_message). `every_shard`: the group
        is published on every Redis shard (see realtime.consumer_kit.hub)."""
        if not self.hub_groups:
            self.hub_groups = set()
        self.hub_groups.add(group)
        await get_hub().join(group, self, every_shard)

    async def leave_all_groups(self):
        if self.hub_groups:
            hub = get_hub()
            for group in list(self.hub_groups):
                await hub.leave(group, self)
            self.hub_groups = frozenset()

    async def hub_message(self, group, data, memo):
        """A group message for this socket; `memo` is shared by all sockets of
        this delivery in this process (encode once, send many)."""
        raise NotImplementedError

    def hub_message_now(self, group, data, memo):
        """hub_message done synchronously, if this socket can (True); False:
        the hub awaits hub_message instead. Synchronous so that a broadcast
        to thousands of local sockets is one plain loop in the hub."""
        return False


class UnknownPathConsumer(SocketConsumer):
    """Any other path: the handshake is refused (HTTP 403), rather than the
    router raising "No route found" (an HTTP 500 and a traceback in the log)."""

    refusal_reason = "unknown_path"

    async def connect(self):
        await self.close()
