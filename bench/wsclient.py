"""A lean WebSocket load client: asyncio Protocols on uvloop, no coroutine per
message.

Longer than 400 lines: the client side of the handshake, the frame reader
and the raw-socket pump for 20,000 sockets belong together; frames
themselves come from realtime/server/frames.py.

Why not the `websockets` library: at 15-40k messages a second on one core its
per-message cost (a coroutine resumption, a frame object, UTF-8 decoding,
masking in Python) makes the *client* the bottleneck, and a benchmark that
measures its own client is worthless. Here:

- the opening handshake is written once per connection and the 101 answer is
  checked (status line and Sec-WebSocket-Accept);
- frames are built and parsed by realtime.server.frames (the server's own
  frame code); outgoing ones are built and masked once, up front, and written as bytes
  (the mask key is random per frame built, as RFC 6455 asks; reusing a built
  frame reuses its key, which servers do not and cannot check);
- incoming frames are parsed straight from the received bytes by a small
  parser (server frames are never masked) and handed to a callback as
  `(opcode, payload_bytes)` without decoding;
- pings are answered, a close frame is answered and recorded.

It is a benchmark tool, not a general client: no TLS, and extensions are
only offered (a subclass handles their frames, e.g. bench.idle_memory).
"""

import asyncio
import base64
import hashlib
import os
import socket
import struct
import time

from realtime.server.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    client_frame,
    close_code,
    close_payload,
    parse_header,
)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeError(Exception):
    pass


class ProtocolError(Exception):
    pass


def close_frame(code=1000):
    return client_frame(OP_CLOSE, close_payload(code))


class WebSocketClientProtocol(asyncio.Protocol):
    """Subclass and override `on_open()`, `on_message(opcode, payload)` and
    `on_close(code)`. `opened` is a future that resolves when the handshake is
    done (or fails with HandshakeError / ConnectionError)."""

    def __init__(self, host, port, path, origin=None, subprotocol=None, extensions=None):
        self.host = host
        self.port = port
        self.path = path
        self.origin = origin
        self.subprotocol = subprotocol
        # Offered as Sec-WebSocket-Extensions (the client does not implement
        # them; a subclass that offers one handles its frames). The server's
        # answer is kept in `accepted_extensions`.
        self.extensions = extensions
        self.accepted_extensions = None
        self.transport = None
        self.is_open = False
        self.close_code = None
        self.closed = asyncio.get_running_loop().create_future()
        self.opened = asyncio.get_running_loop().create_future()
        self.buffer = b""
        self.fragments = None  # (opcode, [payloads]) while a message is fragmented
        self.key = base64.b64encode(os.urandom(16))

    # -- asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self.key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if self.origin:
            lines.append(f"Origin: {self.origin}")
        if self.subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {self.subprotocol}")
        if self.extensions:
            lines.append(f"Sec-WebSocket-Extensions: {self.extensions}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def data_received(self, data):
        if self.is_open:
            if self.buffer:
                data = self.buffer + data
            elif len(data) >= 2 and data[0] in (0x81, 0x82) and data[1] < 126 and len(data) == 2 + data[1]:
                # The common case, one whole small text/binary frame (length
                # < 126, unmasked): no parsing loop.
                self.on_message(data[0] & 0x0F, data[2:])
                return
            self.buffer = self.parse(data)
            return
        data = self.buffer + data
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self.buffer = data
            return
        head, rest = data[:end].decode("latin-1"), data[end + 4 :]
        error = self.check_handshake(head)
        if error:
            if not self.opened.done():
                self.opened.set_exception(HandshakeError(error))
            self.transport.close()
            return
        self.is_open = True
        self.buffer = b""
        if not self.opened.done():
            self.opened.set_result(self)
        self.on_open()
        if rest:
            self.buffer = self.parse(rest)

    def connection_lost(self, exc):
        self.is_open = False
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("connection closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)
        self.on_close(self.close_code)

    # -- WebSocket ----------------------------------------------------------

    def check_handshake(self, head):
        lines = head.split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            return f"handshake refused: {lines[0]!r}"
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(self.key + GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            return "bad Sec-WebSocket-Accept"
        self.accepted_extensions = headers.get("sec-websocket-extensions")
        return None

    def parse(self, data):
        """Handle every complete frame in `data`; return the incomplete rest."""
        pos = 0
        size = len(data)
        while (frame := parse_header(data, pos)) is not None:
            fin, _, opcode, masked, length, header = frame
            if masked:
                raise ProtocolError("the server sent a masked frame")
            end = pos + header + length
            if end > size:
                break
            payload = data[pos + header : end]
            pos = end
            if opcode == OP_TEXT or opcode == OP_BINARY:
                if fin:
                    self.on_message(opcode, payload)
                else:
                    self.fragments = (opcode, [payload])
            elif opcode == OP_CONTINUATION:
                if self.fragments is None:
                    raise ProtocolError("continuation frame without a message")
                self.fragments[1].append(payload)
                if fin:
                    opcode, parts = self.fragments
                    self.fragments = None
                    self.on_message(opcode, b"".join(parts))
            elif opcode == OP_PING:
                self.transport.write(client_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self.close_code = close_code(payload)
                if self.is_open:
                    self.is_open = False
                    self.transport.write(close_frame(self.close_code if self.close_code != 1005 else 1000))
                self.transport.close()
                return b""
            # OP_PONG and anything else: ignored
        return data[pos:] if pos < size else b""

    def send_raw(self, frame):
        """Write a frame built by `client_frame` (pre-built frames are reused)."""
        self.transport.write(frame)

    def close(self, code=1000):
        if self.is_open:
            self.is_open = False
            self.transport.write(close_frame(code))
        # Give the server a moment to answer; the caller awaits `closed`.

    # -- hooks ----------------------------------------------------------------

    def on_open(self):
        pass

    def on_message(self, opcode, payload):
        pass

    def on_close(self, code):
        pass


async def connect(factory, host, port, timeout=10.0):
    """Open a TCP connection with `factory()` and wait for the handshake."""
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(loop.create_connection(factory, host, port), timeout)
    await asyncio.wait_for(protocol.opened, timeout)
    return protocol


async def connect_many(make_protocol, count, host, ports, concurrency=100, timeout=10.0):
    """Open `count` connections, spread round-robin over `ports`;
    `make_protocol(index, port)` builds each protocol. At most `concurrency`
    handshakes run at a time (a burst of thousands of SYNs overflows the
    server's listen backlog and only measures TCP retransmission). Returns the
    protocols in order; raises the first failure."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index):
        port = ports[index % len(ports)]
        async with gate:
            return await connect(lambda: make_protocol(index, port), host, port, timeout)

    return await asyncio.gather(*(one(i) for i in range(count)))


async def close_all(protocols, timeout=5.0):
    for protocol in protocols:
        protocol.close()
    pending = [p.closed for p in protocols if not p.closed.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)
    for protocol in protocols:
        if protocol.transport is not None and not protocol.transport.is_closing():
            protocol.transport.close()


# -- raw sockets with kernel receive timestamps (latency benchmarks) ----------

# SO_TIMESTAMPNS: the kernel stamps every received packet with the time it
# reached the socket; recvmsg returns it as SCM_TIMESTAMPNS (same number).
# Python does not export the constant; 35 is its value on Linux.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
# IP_BIND_ADDRESS_NO_PORT (Linux 4.2+; 24, not exported by Python): bind()
# takes the source address only, and connect() picks the port for the whole
# 4-tuple. Without it, bind(address, 0) searched for a port free towards
# every destination: at 80,000 sockets that search was half the client's
# CPU and the connects stalled.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


async def open_raw(host, port, path, timeout=10.0, source=None):
    """A non-blocking TCP socket that has done the opening handshake, with
    kernel receive timestamps on, from `source` (an address of this machine,
    e.g. 127.0.0.2: each gives another ~28,000 ephemeral ports to one server
    address) when given. Returns (socket, bytes read past the handshake)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if source:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
        key = base64.b64encode(os.urandom(16))
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode("latin-1")
        await asyncio.wait_for(loop.sock_sendall(sock, request), timeout)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout)
            if not chunk:
                raise HandshakeError("connection closed during the handshake")
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            raise HandshakeError(f"handshake refused: {lines[0]!r}")
        expected = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        accept = [
            line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("sec-websocket-accept:")
        ]
        if accept != [expected]:
            raise HandshakeError("bad Sec-WebSocket-Accept")
        return sock, rest
    except BaseException:
        sock.close()
        raise


class TimestampedReader:
    """Reads one raw WebSocket connection from the event loop's reader
    callback with recvmsg, doing nothing but store each read with two times:
    when the kernel received it (`arrived`, SO_TIMESTAMPNS) and when this
    client read it (`read`). Frames are parsed afterwards (`messages()`).

    Why: a client that parses and timestamps in its callbacks measures its
    own scheduling too. With 3,000 sockets the Protocol client was awake for
    ~80% of each tick's delivery (one wake-up per message), so its read times
    could lag the server; the kernel's arrival time does not depend on when
    the client gets around to reading."""

    def __init__(self, sock, leftover, port):
        self.sock = sock
        self.port = port
        self.reads = []
        self.eof = False
        self.tail = b""
        if leftover:
            self.reads.append((time.time(), None, leftover))
            self.answer_pings(leftover)

    def on_readable(self):
        try:
            data, ancillary, _, _ = self.sock.recvmsg(65536, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, ancillary = b"", []
        if not data:
            self.eof = True
            return
        arrived = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                seconds, nanoseconds = struct.unpack("qq", payload[:16])
                arrived = seconds + nanoseconds * 1e-9
        self.reads.append((time.time(), arrived, data))
        self.answer_pings(data)

    def answer_pings(self, data):
        """Walk frame headers as they come, only to answer the server's pings
        (Daphne closes a socket whose pings go unanswered)."""
        tail = self.tail + data if self.tail else data
        pos, size = 0, len(tail)
        while (frame := parse_header(tail, pos)) is not None:
            _, _, opcode, _, length, header = frame
            if size - pos < header + length:
                break
            if opcode == OP_PING:
                try:
                    self.sock.send(client_frame(OP_PONG, tail[pos + header : pos + header + length]))
                except OSError:
                    pass
            pos += header + length
        self.tail = tail[pos:] if pos < size else b""

    def messages(self):
        """[(arrived, read, opcode, payload)] of every complete data frame, and
        the close code if the server sent a close frame (else None). A frame
        gets the times of the read that completed it."""
        out = []
        received_close = None
        buffer = b""
        for read, arrived, data in self.reads:
            buffer += data
            pos = 0
            while (frame := parse_header(buffer, pos)) is not None:
                _, _, opcode, _, length, header = frame
                if len(buffer) - pos < header + length:
                    break
                payload = buffer[pos + header : pos + header + length]
                pos += header + length
                if opcode in (OP_TEXT, OP_BINARY):
                    out.append((arrived if arrived is not None else read, read, opcode, payload))
                elif opcode == OP_CLOSE:
                    received_close = close_code(payload)
            buffer = buffer[pos:]
        return out, received_close

    def has_data(self):
        return bool(self.reads)

    def forget(self):
        """Drop what was read so far, keeping only the start of a frame not
        yet complete (`messages()` then gives what comes from now on). A
        socket connected minutes before the measured ticks holds hundreds of
        earlier ones; parsing them all at 100,000 sockets took minutes."""
        self.reads = [(time.time(), None, self.tail)] if self.tail else []

    def close(self):
        if not self.eof:
            try:
                self.sock.send(close_frame(1000))
            except OSError:
                pass
        self.sock.close()


class ReadPump:
    """Reads every ready TimestampedReader every `interval` seconds, from one
    epoll set, instead of waking up for each message.

    Why: ticks reach 3,000 sockets ~15 us apart; a client woken per message
    spends most of each tick's delivery going to sleep and waking up (it was
    measured busy 80% of that window while keeping up with every message).
    Polling in batches costs one recvmsg per message and nothing else. The
    latency figures use the kernel's arrival timestamps, so reading up to
    `interval` later changes none of them; only the "read by the client"
    times carry the interval."""

    def __init__(self, interval=0.002):
        import select

        self.interval = interval
        self.epoll = select.epoll()
        self.readers = {}
        self.task = None

    def add(self, reader):
        import select

        fd = reader.sock.fileno()
        self.readers[fd] = reader
        self.epoll.register(fd, select.EPOLLIN)

    async def run(self):
        while True:
            for fd, _ in self.epoll.poll(0):
                reader = self.readers.get(fd)
                if reader is None:
                    continue
                reader.on_readable()
                if reader.eof:
                    self.epoll.unregister(fd)
                    del self.readers[fd]
            await asyncio.sleep(self.interval)

    def start(self):
        self.task = asyncio.ensure_future(self.run())

    async def stop(self):
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        self.epoll.close()


async def open_many_raw(count, host, ports, path, pump, concurrency=100, timeout=10.0, source=None, tolerate=False):
    """`count` TimestampedReaders, spread round-robin over `ports`, each added
    to `pump` (a started ReadPump) once its handshake is done; from `source`
    (see open_raw) when given. With `tolerate`, (the readers that connected,
    the errors of those that did not) instead of raising the first error."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index):
        port = ports[index % len(ports)]
        async with gate:
            sock, leftover = await open_raw(host, port, path, timeout, source)
        reader = TimestampedReader(sock, leftover, port)
        pump.add(reader)
        return reader

    opened = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=tolerate)
    if not tolerate:
        return opened
    return (
        [item for item in opened if not isinstance(item, BaseException)],
        [item for item in opened if isinstance(item, BaseException)],
    )
