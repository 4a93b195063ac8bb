"""Every server a benchmark starts, by name: ours, its variants, and the
peers it is measured against. A benchmark picks rows by name and never
changes an entry; a variant made at run time (bench.compression's settings)
is a new Peer from `ours_with`, not an edit of this table.

Each serves /ws/echo and /ws/time (bench/peers/__init__.py), but the chat
baseline `stock-chat`. `argv()` may
raise NotInstalled (a Go peer without Go); its parts may say {python} and
{port}. `fanout_processes`: how many processes the fan-out starts (ours: 2
sharing Redis; a peer: 1 with its own in-memory hub). `browser`: the
idle-memory row whose clients make Chrome's compression offer.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from bench.common import server_environment
from bench.peers.go import NotInstalled, go_binary
from bench.processes import free_port

OURS_ARGV = [
    "{python}",
    "-m",
    "realtime.server",
    "-v",
    "0",
    "-b",
    "127.0.0.1",
    "-p",
    "{port}",
    "config.asgi:application",
]
STOCK_APP = "bench.peers.stock_channels:application"
GRANIAN_NOTE = "granian (Rust HTTP/WebSocket server), --interface asgi --loop uvloop, 1 worker, 1 runtime thread"


def stock_environment():
    """bench.peers.stock_channels configures Django itself: no project settings."""
    return {key: value for key, value in server_environment().items() if key != "DJANGO_SETTINGS_MODULE"}


@dataclass(frozen=True)
class Peer:
    name: str
    describe: str
    argv: Callable[[], list] = field(repr=False)
    env: Callable[[], dict] = field(repr=False, default=server_environment)
    fanout_processes: int = 1
    redis: bool = False
    browser: bool = False

    def resolve(self):
        """(argv, None) when this server can run here, else (None, the reason)."""
        try:
            return self.argv(), None
        except NotInstalled as missing:
            return None, str(missing)


def ours_with(name, describe, browser=False, **settings):
    """Ours with some settings changed (environment variables)."""
    return Peer(
        name,
        f"this project, realtime.server, but {describe}",
        lambda: OURS_ARGV,
        lambda: server_environment(**settings),
        fanout_processes=2,
        redis=True,
        browser=browser,
    )


def python_module(module, *arguments):
    return lambda: ["{python}", "-m", module, *arguments]


def gorilla_argv():
    return [str(go_binary("gorilla_echo", needs_gorilla=True)), "-addr", "127.0.0.1:{port}"]


def granian_argv():
    return [
        "{python}",
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--loop",
        "uvloop",
        "--workers",
        "1",
        "--runtime-threads",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        "--backlog",
        "4096",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        STOCK_APP,
    ]


def metrics_and_tracing():
    return server_environment(REALTIME_TRACING="1", REALTIME_METRICS_PORT=str(free_port()))


PEERS = (
    Peer(
        "ours",
        "this project: realtime.server (Daphne + realtime/server, uvloop), its consumers, project "
        "defaults (request tracing and flood control on); in the fan-out 2 processes sharing Redis",
        lambda: OURS_ARGV,
        fanout_processes=2,
        redis=True,
    ),
    Peer("ours+browser", "ours, each client making Chrome's permessage-deflate offer", lambda: OURS_ARGV, browser=True),
    Peer(
        "tracing-on",
        "ours with REALTIME_TRACING=1 (every message and connection traced) and Prometheus "
        "metrics on (REALTIME_METRICS_PORT)",
        lambda: OURS_ARGV,
        metrics_and_tracing,
    ),
    Peer(
        "tracing-off",
        "ours with REALTIME_TRACING=0, no metrics",
        lambda: OURS_ARGV,
        lambda: server_environment(REALTIME_TRACING="0"),
    ),
    Peer(
        "stock",
        "stock Daphne (Twisted's default asyncio loop) + stock Channels consumers (bench/peers/stock_channels.py)",
        lambda: ["{python}", "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", "{port}", STOCK_APP],
        stock_environment,
    ),
    Peer(
        "stock-uvloop",
        "stock Daphne on uvloop, the event loop ours runs on "
        "(bench/peers/stock_daphne_uvloop.py), same stock consumers",
        python_module("bench.peers.stock_daphne_uvloop", "-v", "0", "-b", "127.0.0.1", "-p", "{port}", STOCK_APP),
        stock_environment,
    ),
    Peer(
        "uvicorn",
        "the same stock Channels consumers on uvicorn[standard] (uvloop, httptools, websockets)",
        python_module(
            "uvicorn",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            "websockets",
            "--lifespan",
            "off",
            "--log-level",
            "warning",
            "--no-access-log",
            "--backlog",
            "4096",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            STOCK_APP,
        ),
        stock_environment,
    ),
    Peer("granian", f"the same stock Channels consumers on {GRANIAN_NOTE}", granian_argv, stock_environment),
    Peer(
        "websockets",
        "a raw `websockets` server on uvloop, no Django (bench/peers/websockets_server.py)",
        python_module("bench.peers.websockets_server", "{port}"),
    ),
    Peer(
        "websockets+browser",
        "the raw `websockets` server with its default compression, each client making Chrome's offer",
        python_module("bench.peers.websockets_server", "{port}", "--compression", "deflate"),
        browser=True,
    ),
    Peer(
        "aiohttp",
        "a raw aiohttp server on uvloop (web.WebSocketResponse), no Django (bench/peers/aiohttp_server.py)",
        python_module("bench.peers.aiohttp_server", "{port}"),
    ),
    Peer(
        "picows",
        "a raw picows server on uvloop (Cython framing), no Django (bench/peers/picows_server.py)",
        python_module("bench.peers.picows_server", "{port}"),
    ),
    Peer(
        "stock-chat",
        "the Channels tutorial's chat on stock Daphne, this project's settings and Message table "
        "(bench/peers/stock_chat.py; /ws/chat/<room>/ only)",
        lambda: [
            "{python}",
            "-m",
            "daphne",
            "-v",
            "0",
            "-b",
            "127.0.0.1",
            "-p",
            "{port}",
            "bench.peers.stock_chat:application",
        ],
    ),
    Peer(
        "gorilla",
        "gorilla/websocket's echo example and a hub broadcasting a PreparedMessage, in Go "
        "(bench/peers/gorilla_echo), Debian's packages",
        gorilla_argv,
    ),
)
SERVERS = {peer.name: peer for peer in PEERS}
# The peers of the echo, idle-memory and fan-out rows, in the order printed.
ECHO_ROWS = ("ours", "stock", "stock-uvloop", "uvicorn", "granian", "websockets", "aiohttp", "picows", "gorilla")
IDLE_ROWS = (
    "ours",
    "ours+browser",
    "websockets",
    "websockets+browser",
    "stock",
    "uvicorn",
    "granian",
    "aiohttp",
    "picows",
    "gorilla",
)
FANOUT_ROWS = ("ours", "websockets", "aiohttp", "picows", "granian", "gorilla")
