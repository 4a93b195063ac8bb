"""One thin consumer per socket. Wire formats live in realtime.consumer_kit.codecs;
limits, error frames and groups in realtime.consumer_kit.consumer."""

import logging

from realtime.consumer_kit import codecs, limits
from realtime.consumer_kit.close_codes import CLOSE_NORMAL
from realtime.consumer_kit.consumer import SocketConsumer
from realtime.consumer_kit.errors import ClientError
from realtime.samples.ticker import TIME_GROUP, start_tick_publisher
from realtime.samples.values import Ack, MouseEvent, Person

logger = logging.getLogger(__name__)
person_log = logging.getLogger("realtime.person")
PERSON_LOG_EMAILS = 10  # emails named in a person's log line


class EchoConsumer(SocketConsumer):
    """/ws/echo: every message back unchanged, same frame type, empty included
    (gorilla's echo, Newmarch's Message)."""

    max_message_bytes_setting = limits.ECHO_MAX_MESSAGE_BYTES

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is not None:
            await self.send(text_data=text_data)
        else:
            await self.send(bytes_data=bytes_data)


class MouseConsumer(SocketConsumer):
    """/ws/mouse and /wsecho: a {"x": int, "y": int} event back as received."""

    async def receive(self, text_data=None, bytes_data=None):
        event = codecs.JSON.unmarshal(text_data if text_data is not None else bytes_data, None, MouseEvent)
        await self.send_value(event)


class ReceivedConsumer(SocketConsumer):
    """/ws/received: astaxie's echo, "Received: m" for each text message."""

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            raise ClientError("text_only", "this socket takes text messages")
        await self.send(text_data="Received: " + text_data)


class HelloConsumer(SocketConsumer):
    """/ws/hello: Newmarch's server-initiated echo. Sends "Hello 0" on connect
    and the next greeting after each reply; after the tenth reply, closes."""

    greetings = 10

    async def connect(self):
        await self.accept()
        self.replies = 0
        await self.send(text_data="Hello 0")

    async def receive(self, text_data=None, bytes_data=None):
        self.replies += 1
        logger.debug("hello: received back %r", text_data if text_data is not None else bytes_data)
        if self.replies < self.greetings:
            await self.send(text_data=f"Hello {self.replies}")
        else:
            await self.close_with(CLOSE_NORMAL, "ten greetings answered")


class PersonConsumer(SocketConsumer):
    """/ws/person (JSON, or the codec named by Sec-WebSocket-Protocol) and
    /ws/person/xml: receives a Person, logs it as the Go server prints it,
    acknowledges in the same codec."""

    def select_codec(self):
        if self.scope["url_route"]["kwargs"].get("codec") == "xml":
            return codecs.XML, None
        for offered in self.scope.get("subprotocols", []):
            if offered in codecs.CODECS_BY_SUBPROTOCOL:
                return codecs.CODECS_BY_SUBPROTOCOL[offered], offered
        return codecs.JSON, None

    async def connect(self):
        self.codec, subprotocol = self.select_codec()
        await self.accept(subprotocol)

    async def receive(self, text_data=None, bytes_data=None):
        person = self.codec.unmarshal(text_data if text_data is not None else bytes_data, None, Person)
        # One line per message (the Go server prints a line per email: a
        # client sending 16,000 of them wrote 16,000 lines), at most
        # PERSON_LOG_EMAILS of them named; the log filter bounds its length.
        emails = person.Emails
        shown = ", ".join(emails[:PERSON_LOG_EMAILS])
        more = f" (and {len(emails) - PERSON_LOG_EMAILS} more)" if len(emails) > PERSON_LOG_EMAILS else ""
        person_log.info("Name: %s; %d emails: %s%s", person.Name, len(emails), shown, more)
        await self.send_value(Ack(Name=person.Name, Emails=len(person.Emails)))


class TimeConsumer(SocketConsumer):
    """/ws/time: the shared tick as JSON {"time", "iso", "seq"}."""

    async def connect(self):
        await self.accept()
        # On every shard: the tick gets through while any one is up.
        await self.join_group(TIME_GROUP, every_shard=True)
        start_tick_publisher()

    async def receive(self, text_data=None, bytes_data=None):
        raise ClientError("read_only", "this socket only pushes the time")

    def hub_message_now(self, group, tick, memo):
        return self.send_text_now(self.rendered(tick, memo))

    async def hub_message(self, group, tick, memo):
        await self.send(text_data=self.rendered(tick, memo))

    def rendered(self, tick, memo):
        """The tick's text, rendered once per delivery and consumer class:
        the same str object for every socket, so the server frames it once."""
        text = memo.get(type(self))
        if text is None:
            text = memo[type(self)] = self.render(tick)
        return text

    @staticmethod
    def render(tick):
        return codecs.JSON.marshal({"time": tick["time"], "iso": tick["iso"], "seq": tick["seq"]})[0]


class GoTimeConsumer(TimeConsumer):
    """/wstime: only the RFC 1123 text, as the Go sample sends it."""

    @staticmethod
    def render(tick):
        return tick["time"]
