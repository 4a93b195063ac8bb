"""The values the sample sockets carry, as dataclasses the codecs
(realtime.consumer_kit.codecs) marshal like Go's JSON and XML encoders marshal
the samples' structs. Field names are the Go structs' (hence `Name`)."""

import dataclasses


@dataclasses.dataclass
class MouseEvent:
    x: int
    y: int


@dataclasses.dataclass
class Person:
    Name: str
    Emails: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Ack:
    """The person socket's reply: whose record arrived, with how many emails."""

    Name: str
    Emails: int
