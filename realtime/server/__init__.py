"""Daphne, extended (not forked) where stock Daphne 4.2 falls short.

It serves any Channels project (every setting it reads has its default in
`conf`). Pinned to daphne==4.2.3, Twisted and autobahn (requirements.txt);
every private internal of those (and of channels-redis) that it relies on is
listed in `internals` and probed when the server starts.

What it changes, and why:
- Empty text and binary messages are sent. Stock Daphne tests
  `if message.get("text")`, so an empty message is silently dropped and an
  echo client waits forever.
- Outgoing messages are framed here and written straight to the transport
  when nothing else is pending (no compression, no fragmentation, nothing
  queued); autobahn's general `sendMessage` path costs several times more per
  message. A broadcast sends the same `str` object to every socket, so the
  frame built for the first socket is reused for the rest.
- Back-pressure on input: Daphne queues every received message for the
  application without bound. Here, once a socket has more than
  REALTIME_INBOUND_QUEUE messages waiting, Daphne stops reading from that TCP
  connection until the application has caught up, so a flooding client is
  slowed by TCP instead of growing the server's memory.
- A message over --websocket-max-message-size closes with 1009. Stock Daphne
  leaves autobahn's `failByDrop` on, so the client only sees the TCP
  connection vanish; with it off, autobahn runs the closing handshake with
  the proper code (1009 oversize, 1002 protocol error, 1007 bad UTF-8).
- permessage-deflate (RFC 7692) is negotiated when the client offers it
  (REALTIME_PERMESSAGE_DEFLATE, on by default), without context takeover and
  with small windows, so an idle compressed socket costs what a plain one
  does (`compression` says why); an offer with odd parameters is declined,
  never a failed handshake. Stock Daphne never sets autobahn's
  `perMessageCompressionAccept`, so it declines every offer.
  autobahn (pinned >= 26.10 in requirements.txt) bounds inflation by the same
  max message size, so a small compressed "bomb" closes with 1009 instead of
  filling memory.
- SIGTERM: every open socket gets a close frame with 1001 (going away) and
  up to REALTIME_SHUTDOWN_GRACE_SECONDS to answer it and see its TCP
  connection closed in order (a FIN, not autobahn's reset) before the process
  exits; stock Daphne cancels the applications and drops the connections, so
  clients see 1006 and cannot tell a restart from a crash.
- Back-pressure on output (gorilla's bounded send buffer): a client that
  stops reading fills its TCP window, and stock Daphne then keeps every later
  message in Twisted's write buffer without bound. Here, once a socket has
  more than REALTIME_SEND_BUFFER_BYTES waiting to be written, the next message
  is dropped, the socket is closed with 1008 and the event is logged; nothing
  more is queued for it.
- Keepalive pings: one outstanding per socket, and a socket is dropped only
  when nothing at all came from its client for --ping-timeout; stock Daphne
  pings again before the last pong came and autobahn then dropped live
  sockets of a busy server (`keepalive` says how).


- A bad frame after good ones: the good ones are answered first, then the
  connection is failed (`strict`); stock Daphne closes before the replies.

Modules, one concern each:
- `conf`: every setting the server reads, with its default;
- `internals`: the contract with the libraries' internals, probed at start;
- `extensions`: what consumers get beyond ASGI, in scope["extensions"];
- `frames`: RFC 6455 frames as pure functions of bytes (also used by bench/
  and the tests);
- `strict`: the good frames' replies before the close a bad frame earns;
- `lazy_debug`: autobahn's debug dump made lazy (an install() call);
- `compression`: permessage-deflate negotiation and the compressor;
- `inbound`: the per-socket receive queue (input back-pressure);
- `simple_frames`: the input fast path for small, simple data frames;
- `send_buffer`: the bounded send buffer (a client that stops reading: 1008)
  and autobahn's send queue without an empty deque per socket;
- `keepalive`: keepalive pings that drop a socket only when nothing came
  from its client for the whole timeout (a busy server keeps live sockets);
- `protocol`: the WebSocket protocol subclass, built of the three above;
- `server`: the Server subclass and its SIGTERM handling;
- `reuse_port`: several processes behind one port (REALTIME_REUSE_PORT);
- `direct_dispatch`: reads of accepted connections without Twisted's
  per-read log-context wrapper;
- `gc_schedule`: full garbage collections on a schedule, off the tick;
- `checks`: a system check (errors) that the pinned Daphne/Twisted/autobahn
  are the tested ones;
- `cli`: `python -m realtime.server`, Daphne's command line with uvloop
  (`manage.py runserver` runs the same server: realtime/management).

This package's __init__ imports nothing: `python -m realtime.server` must set
the uvloop policy before daphne.server installs Twisted's reactor.
"""
