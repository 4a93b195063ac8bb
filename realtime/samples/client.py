"""`python -m realtime.client`: the Python port of the seed samples' Go clients,
built on the `websockets` library (asyncio API).

    check URL                       Bendersky's sanity check (URL = server base, ws://host:port)
    echo URL [--binary] MSG...      send each MSG, print each reply (gorilla / Newmarch Message)
    hello URL                       Newmarch's EchoClient: print each greeting and send it back
    person URL --name N --email E... [--xml]   send a Person, print the acknowledgement
    time URL [--count N]            print N time messages

Common options: --cafile PATH (trust this CA for wss://), --origin ORIGIN,
--timeout SECONDS, -v (handshake details on stderr).

Every failure is one line on stderr and exit status 1; a wrong command line
is exit status 2 (argparse). This module imports no Django, so it runs
without any settings.
"""

import argparse
import asyncio
import json
import logging
import random
import ssl
import sys
import time
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from realtime.consumer_kit import codecs
from realtime.consumer_kit.close_codes import CLOSE_ABNORMAL, CLOSE_NORMAL
from realtime.samples.values import Ack, MouseEvent, Person

# Bendersky's check: the server ticks on every wall-clock second, so a tick
# must arrive within one second plus some slack.
TIME_CHECK_SECONDS = 1.2


class ClientFailure(Exception):
    """A failure to report as one line on stderr, then exit 1."""


# -- Connecting -----------------------------------------------------------------


def check_url(url):
    """Refuse anything but ws://host... and wss://host... before connecting."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError as error:
        raise ClientFailure(f"bad URL {url!r}: {error} (expected ws://host:port/path or wss://...)") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ClientFailure(f"bad URL {url!r}: expected ws://host:port/path or wss://host:port/path")
    return parts


def open_socket(url, options, subprotocols=None):
    """The `websockets` connection for URL with the common options applied."""
    parts = check_url(url)
    tls = {}
    if options.cafile is not None:
        if parts.scheme != "wss":
            raise ClientFailure(f"--cafile applies only to wss:// URLs, not {url}")
        try:
            tls["ssl"] = ssl.create_default_context(cafile=options.cafile)
        except (OSError, ssl.SSLError) as error:
            raise ClientFailure(f"cannot use CA file {options.cafile}: {error.strerror or error}") from None
    # Without --cafile, websockets verifies wss:// against the system's CAs.
    return connect(
        url,
        origin=options.origin,
        subprotocols=subprotocols,
        open_timeout=options.timeout,
        close_timeout=options.timeout,
        **tls,
    )


def describe_connection(websocket, options):
    if options.verbose:
        print(
            f"connected to {websocket.request.path} (subprotocol: {websocket.subprotocol or 'none'})",
            file=sys.stderr,
        )


async def receive(websocket, options, waiting_for):
    """The next message, or a ClientFailure naming what we waited for."""
    try:
        async with asyncio.timeout(options.timeout):
            return await websocket.recv()
    except TimeoutError:
        raise ClientFailure(f"timed out after {options.timeout:g} s waiting for {waiting_for}") from None


def readable(message):
    """Text as it is; binary as a Python bytes literal, so control bytes show."""
    return message if isinstance(message, str) else repr(message)


# -- Subcommands ----------------------------------------------------------------


async def run_check(options):
    """Bendersky's sanity check: a mouse event comes back equal from /ws/mouse,
    and a time message arrives from /ws/time within 1.2 s."""
    check_url(options.url)
    base = options.url.rstrip("/")
    # A random event, so a server that always answers the same thing fails.
    sent = MouseEvent(x=random.randint(0, 1000), y=random.randint(0, 1000))
    payload, _frame_type = codecs.JSON.marshal(sent)
    async with open_socket(base + "/ws/mouse", options) as websocket:
        describe_connection(websocket, options)
        await websocket.send(payload)
        reply = await receive(websocket, options, "the mouse event to come back")
    try:
        echoed = codecs.JSON.unmarshal(reply, None, MouseEvent)
    except codecs.DecodeError as error:
        raise ClientFailure(f"/ws/mouse answered {reply!r}: {error.message}") from None
    if echoed != sent:
        raise ClientFailure(f"/ws/mouse sent back {echoed}, expected {sent}")
    print(f"mouse: sent {payload} to /ws/mouse, got the same event back")

    async with open_socket(base + "/ws/time", options) as websocket:
        describe_connection(websocket, options)
        started = time.monotonic()
        try:
            async with asyncio.timeout(TIME_CHECK_SECONDS):
                message = await websocket.recv()
        except TimeoutError:
            raise ClientFailure(f"no time message from /ws/time within {TIME_CHECK_SECONDS} s") from None
        waited = time.monotonic() - started
    try:
        tick = json.loads(message)
        tick_time, seq = tick["time"], tick["seq"]
    except (ValueError, TypeError, KeyError):
        raise ClientFailure(f'/ws/time sent {message!r}, not {{"time", "iso", "seq"}} JSON') from None
    print(f"time: /ws/time sent {tick_time!r} (seq {seq}) after {waited:.2f} s")
    print("check passed")


async def run_echo(options):
    async with open_socket(options.url, options) as websocket:
        describe_connection(websocket, options)
        for text in options.messages:
            await websocket.send(text.encode("utf-8") if options.binary else text)
            reply = await receive(websocket, options, f"the reply to {text!r}")
            print(readable(reply), flush=True)


async def run_hello(options):
    """Newmarch's EchoClient: print each message and return it, until the
    server closes. Only the clean close (1000) counts as success."""
    async with open_socket(options.url, options) as websocket:
        describe_connection(websocket, options)
        while True:
            try:
                message = await receive(websocket, options, "the next greeting")
            except ConnectionClosed:
                break
            print(f"Received from server: {readable(message)}", flush=True)
            try:
                await websocket.send(message)
            except ConnectionClosed:
                break
    code = websocket.close_code
    if code == CLOSE_ABNORMAL:
        raise ClientFailure(f"connection to {options.url} lost without a closing handshake (code {code})")
    if code != CLOSE_NORMAL:
        reason = f" ({websocket.close_reason})" if websocket.close_reason else ""
        raise ClientFailure(f"server closed the connection with code {code}{reason}, not {CLOSE_NORMAL}")


def server_error(reply):
    """The server's error frame as "code: message", or None if `reply` is not one.
    Either form: a socket answers a payload it cannot parse in its own codec,
    which need not be the codec we sent."""
    try:
        root = codecs.XML.unmarshal(reply, None)
    except codecs.DecodeError:
        pass
    else:
        if root.tag == "error":
            return f"{root.findtext('code')}: {root.findtext('message')}"
        return None
    try:
        value = json.loads(reply)
    except (ValueError, TypeError):
        return None
    if isinstance(value, dict) and isinstance(value.get("error"), dict):
        return f"{value['error'].get('code')}: {value['error'].get('message')}"
    return None


async def run_person(options):
    codec = codecs.XML if options.xml else codecs.JSON
    person = Person(Name=options.name, Emails=list(options.emails))
    payload, _frame_type = codec.marshal(person)
    # Offering the codec's name lets /ws/person pick the codec; the fixed
    # routes (/ws/person/xml) simply ignore the offer.
    subprotocols = None if options.no_subprotocol else [codec.name]
    async with open_socket(options.url, options, subprotocols) as websocket:
        describe_connection(websocket, options)
        await websocket.send(payload)
        reply = await receive(websocket, options, "the acknowledgement")
    error = server_error(reply)
    if error is not None:
        raise ClientFailure(f"server rejected the Person: {error}")
    try:
        ack = codec.unmarshal(reply, None, Ack)
    except codecs.DecodeError as error:
        raise ClientFailure(f"unexpected acknowledgement {reply!r}: {error.message}") from None
    if ack != Ack(Name=person.Name, Emails=len(person.Emails)):
        raise ClientFailure(f"acknowledgement {reply!r} does not match the Person sent")
    print(readable(reply))


async def run_time(options):
    async with open_socket(options.url, options) as websocket:
        describe_connection(websocket, options)
        for _ in range(options.count):
            print(readable(await receive(websocket, options, "the next time message")), flush=True)


# -- Command line ---------------------------------------------------------------


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text):
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cafile", metavar="PATH", help="trust this CA (PEM) for wss:// URLs")
    common.add_argument("--origin", help="send this Origin header (none is sent by default)")
    common.add_argument(
        "--timeout",
        type=positive_float,
        default=5.0,
        metavar="SECONDS",
        help="for the handshake and for each awaited message (default 5)",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="print handshake details on stderr")

    parser = argparse.ArgumentParser(
        prog="python -m realtime.client",
        description="Talk to the realtime sockets: the Python port of the seed samples' Go clients.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", parents=[common], help="sanity-check /ws/mouse and /ws/time")
    check.add_argument("url", help="server base URL, e.g. ws://127.0.0.1:8000")
    check.set_defaults(run=run_check)

    echo = commands.add_parser("echo", parents=[common], help="send messages, print the replies")
    echo.add_argument("url", help="socket URL, e.g. ws://127.0.0.1:8000/ws/echo")
    echo.add_argument("--binary", action="store_true", help="send each MSG as a binary message (UTF-8 bytes)")
    echo.add_argument("messages", nargs="+", metavar="MSG")
    echo.set_defaults(run=run_echo)

    hello = commands.add_parser("hello", parents=[common], help="return each greeting until the server closes")
    hello.add_argument("url", help="socket URL, e.g. ws://127.0.0.1:8000/ws/hello")
    hello.set_defaults(run=run_hello)

    person = commands.add_parser("person", parents=[common], help="send a Person, print the acknowledgement")
    person.add_argument("url", help="socket URL, e.g. ws://127.0.0.1:8000/ws/person")
    person.add_argument("--name", required=True)
    person.add_argument(
        "--email", dest="emails", action="append", default=[], metavar="EMAIL", help="repeat for several emails"
    )
    person.add_argument("--xml", action="store_true", help="XML codec instead of JSON")
    person.add_argument(
        "--no-subprotocol", action="store_true", help="do not offer the codec as Sec-WebSocket-Protocol"
    )
    person.set_defaults(run=run_person)

    time_ = commands.add_parser("time", parents=[common], help="print time messages")
    time_.add_argument("url", help="socket URL, e.g. ws://127.0.0.1:8000/ws/time")
    time_.add_argument("--count", type=positive_int, default=5, help="how many (default 5)")
    time_.set_defaults(run=run_time)
    return parser


def failure_line(error, options):
    """One line that says what went wrong, for any error a connection can raise."""
    url = getattr(options, "url", "")
    if isinstance(error, ClientFailure):
        return str(error)
    if isinstance(error, InvalidURI):
        return f"bad URL {error.uri!r}: {error.msg} (expected ws://host:port/path or wss://...)"
    if isinstance(error, InvalidStatus):
        status = error.response.status_code
        line = f"server refused the WebSocket handshake for {url}: HTTP {status} {error.response.reason_phrase}"
        if status == 403 and options.origin:
            line += f" (Origin {options.origin} is not allowed)"
        return line
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate verification failed for {url}: {error.verify_message}"
            " (pass --cafile with the CA that signed the server's certificate)"
        )
    if isinstance(error, ssl.SSLError):
        return f"TLS error talking to {url}: {error.reason or error}"
    if isinstance(error, InvalidHandshake):
        return f"WebSocket handshake with {url} failed: {error}"
    if isinstance(error, ConnectionClosed):
        if error.rcvd is None:
            return f"connection to {url} lost without a closing handshake (code {CLOSE_ABNORMAL})"
        reason = f" ({error.rcvd.reason})" if error.rcvd.reason else ""
        return f"server closed the connection to {url} unexpectedly with code {error.rcvd.code}{reason}"
    if isinstance(error, TimeoutError):
        return f"timed out after {options.timeout:g} s connecting to {url}"
    if isinstance(error, ConnectionRefusedError):
        return f"cannot connect to {url}: connection refused (is the server running?)"
    if isinstance(error, OSError):
        return f"cannot connect to {url}: {error.strerror or error}"
    return None


def main(argv=None):
    options = build_parser().parse_args(argv)
    # websockets logs some failures too; with no handler configured, Python
    # would print them on stderr beside our one line.
    logging.getLogger("websockets").addHandler(logging.NullHandler())
    try:
        asyncio.run(options.run(options))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        line = failure_line(error, options)
        if line is None:
            line = f"{type(error).__name__}: {error}"
        print(f"error: {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
