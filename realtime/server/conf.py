"""Every setting `python -m realtime.server` reads, with its default: the one
place they live.

A Channels project that has none of these in its settings runs on the
defaults below; a project sets a name to change it (this project's
config/settings.py takes them from the environment: `from_environment`).
Code reads them through `setting(name)`, never `settings.NAME` directly, so
a missing name is the default and not an AttributeError.

Imports nothing at module level but the standard library: config/settings.py
imports it before Django is configured.
"""

import os

DEFAULTS = {
    # Messages queued inside the server for one socket before it stops
    # reading that TCP connection (back-pressure instead of unbounded memory).
    "REALTIME_INBOUND_QUEUE": 64,
    # Bytes waiting in the server for one socket (its client not reading: TCP
    # window full) before it is closed with 1008 and its further messages
    # dropped (gorilla's bounded send buffer). 256 KiB holds ~2,500 ticks;
    # checked before a message is queued, so one message up to the frame
    # limit still goes out. 0 = unbounded (stock Daphne).
    "REALTIME_SEND_BUFFER_BYTES": 256 * 1024,
    # Seconds between full garbage collections, run at half past a second
    # (gc_schedule.py says why); 0 = CPython's own schedule.
    "REALTIME_GC_FULL_SECONDS": 300.0,
    # Unmask client frames with the C XOR of the websockets wheel when it is
    # installed (frames.py); False: the pure-Python one, as on a platform
    # without that wheel. Logged at start.
    "REALTIME_COMPILED_MASK": True,
    # Pending TCP connections the kernel queues before accept; Twisted's 50
    # makes a connection storm wait on SYN retries. Capped by
    # net.core.somaxconn.
    "REALTIME_LISTEN_BACKLOG": 4096,
    # Bind the TCP port with SO_REUSEPORT, so several server processes listen
    # on one address and the kernel spreads connections over them
    # (reuse_port.py). Off: a second server on a port in use fails.
    "REALTIME_REUSE_PORT": False,
    # permessage-deflate (RFC 7692) when the client offers it, with these
    # parameters (compression.py and docs/SCALE.md say why): no context
    # takeover, so an idle socket keeps no zlib state; messages under
    # MIN_BYTES go out uncompressed. Window bits 9-15, memLevel 1-9.
    "REALTIME_PERMESSAGE_DEFLATE": True,
    "REALTIME_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER": True,
    "REALTIME_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER": True,
    "REALTIME_DEFLATE_SERVER_WINDOW_BITS": 12,
    "REALTIME_DEFLATE_CLIENT_WINDOW_BITS": 12,
    "REALTIME_DEFLATE_MEM_LEVEL": 5,
    "REALTIME_DEFLATE_MIN_BYTES": 128,
    # On SIGTERM every open socket gets close 1001; this is how long the
    # server waits for the clients' close replies before it exits anyway.
    "REALTIME_SHUTDOWN_GRACE_SECONDS": 3.0,
    # With a certificate and key (PEM files) the server also serves https://
    # and wss:// on REALTIME_TLS_PORT (`make run-tls` sets these).
    "REALTIME_TLS_CERT_FILE": "",
    "REALTIME_TLS_KEY_FILE": "",
    "REALTIME_TLS_PORT": 8443,
    "REALTIME_TLS_BIND": "127.0.0.1",
    # Prometheus metrics of this process at http://BIND:PORT/metrics, on a
    # port of its own; 0 = off (processes on one host need a port each).
    "REALTIME_METRICS_PORT": 0,
    "REALTIME_METRICS_BIND": "127.0.0.1",
    # The addresses (or networks, CIDR) of the reverse proxies whose
    # forwarding headers count (X-Forwarded-For, -Proto, -Port...: with
    # --proxy-headers, the client's address and scheme). From any other peer
    # they are removed before Daphne or Django reads them (forwarded.py).
    # Loopback by default (a proxy on the same host). Comma-separated.
    "REALTIME_TRUSTED_PROXIES": ["127.0.0.1", "::1"],
    # Seconds a connection has to send a complete request header (from its
    # accept, or from the end of its previous response); then it is cut.
    # Twisted would wait 12 hours for the rest of half a header (slowloris).
    "REALTIME_HEADER_TIMEOUT_SECONDS": 15.0,
    # Internals of Daphne, Twisted, autobahn or channels-redis that moved
    # (internals.py) stop the start; True makes that a warning, said at every
    # start, for whoever has re-checked the server against those releases.
    "REALTIME_ALLOW_MOVED_INTERNALS": False,
    # Request tracing (realtime/tracing/conf.py): off unless the project asks,
    # since it stores into this project's tables. config/settings.py asks.
    "REALTIME_TRACING": False,
    "REALTIME_TRACE_KEEP": 10,
    "REALTIME_TRACE_MAX_AGE_SECONDS": 24 * 3600,
    "REALTIME_TRACE_FLUSH_SECONDS": 1.0,
    "REALTIME_TRACE_PURGE_SECONDS": 10.0,
    "REALTIME_TRACE_BUFFER": 100000,
    "REALTIME_TRACE_PAYLOAD_PREVIEW": 0,
    "REALTIME_TRACE_MAX_FAMILIES": 200,
    "REALTIME_TRACE_LIVE_RECHECK_SECONDS": 2.0,
    "REALTIME_OTEL_MESSAGES_PER_FLUSH": 10,
    # Whether OpenTelemetry spans carry the client's IP address and port
    # (client.address, client.port, and in event texts); off: "[client]".
    "REALTIME_OTEL_CLIENT_ADDRESS": False,
    # Not ours, read by the server when a project has them.
    "LOG_FORMAT": "text",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "",
}

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def setting(name):
    """The project's value of `name`, else its default here (read each time:
    tests change settings). Without any Django settings (an ASGI application
    that is not a Django project), the default."""
    from django.conf import settings

    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return DEFAULTS[name]
    return getattr(settings, name, DEFAULTS[name])


def parse(name, text):
    """`text` (an environment variable's value) as the type of `name`'s default."""
    default = DEFAULTS[name]
    if isinstance(default, list):
        return [item.strip() for item in text.split(",") if item.strip()]
    try:
        if isinstance(default, bool):
            word = text.strip().lower()
            if word not in TRUE_WORDS | FALSE_WORDS:
                raise ValueError(f"not one of {sorted(TRUE_WORDS | FALSE_WORDS)}")
            return word in TRUE_WORDS
        if isinstance(default, int):
            number = int(text)
        elif isinstance(default, float):
            number = float(text)
        else:
            return text
    except ValueError:
        raise SystemExit(f"error: {name}={text!r} is not a valid {type(default).__name__}") from None
    # Every number here is a size, a count, a port or seconds.
    if not 0 <= number < float("inf"):  # also false for nan
        raise SystemExit(f"error: {name}={text!r} must be a finite number, 0 or more")
    return number


def from_environment(environ=None, names=None):
    """{name: value} for each server setting (of `names`, default all) whose
    environment variable is set and not empty: what config/settings.py
    overrides."""
    environ = os.environ if environ is None else environ
    return {name: parse(name, environ[name]) for name in (names or DEFAULTS) if environ.get(name, "") != ""}
