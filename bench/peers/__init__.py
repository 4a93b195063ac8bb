"""The servers the benchmarks measure ours against, started the same way
(bench.common.Server: a free port, pinned, the benchmark's scheduling), and
the Go programs among them built on first use.

Python peers run from this interpreter; Go ones (gorilla/websocket's echo
server, the Go load client) are built from bench/peers/<name>/ with Debian's
golang-go and golang-github-gorilla-websocket-dev (scripts/ensure-go.sh) into
bench/.build/, rebuilt when a source file is newer than the binary. When Go
or the package is missing, `go_binary` raises NotInstalled with a one-line
reason the benchmark prints in that row while the others still run.
"""

import os
import shutil
import subprocess
from pathlib import Path

from bench.common import ROOT, server_environment

PEERS = ROOT / "bench" / "peers"
BUILD = ROOT / "bench" / ".build"
# Debian installs Go packages as GOPATH sources here (no module download).
DEBIAN_GOPATH = Path("/usr/share/gocode")
GORILLA = DEBIAN_GOPATH / "src" / "github.com" / "gorilla" / "websocket"
ENSURE = "scripts/ensure-go.sh"


class NotInstalled(Exception):
    """A peer cannot run on this machine; str() says what is missing."""


def go_binary(name, needs_gorilla=False):
    """The built bench/peers/<name> Go program (its path), built now if it is
    missing or older than its sources."""
    source = PEERS / name
    go = shutil.which("go")
    if go is None:
        raise NotInstalled(f"not installed: go (Debian golang-go; {ENSURE})")
    if needs_gorilla and not GORILLA.is_dir():
        raise NotInstalled(f"not installed: gorilla/websocket (Debian golang-github-gorilla-websocket-dev; {ENSURE})")
    binary = BUILD / name
    newest = max(path.stat().st_mtime for path in source.glob("*.go"))
    if binary.exists() and binary.stat().st_mtime >= newest:
        return binary
    BUILD.mkdir(parents=True, exist_ok=True)
    partial = BUILD / f".{name}.{os.getpid()}"
    # GOPATH mode: Debian's packaged sources, nothing fetched from a proxy.
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(DEBIAN_GOPATH), "GOFLAGS": ""}
    env.setdefault("GOCACHE", str(BUILD / ".gocache"))
    result = subprocess.run([go, "build", "-o", str(partial), "."], cwd=source, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise NotInstalled(f"did not build: go build {source.relative_to(ROOT)}: {first}")
    partial.replace(binary)
    return binary


def stock_environment():
    """bench.stock_echo configures Django itself: no project settings."""
    return {key: value for key, value in server_environment().items() if key != "DJANGO_SETTINGS_MODULE"}


def _ours(**env):
    return {
        "argv": lambda: ["{python}", "-m", "realtime.server", "-v", "0", "-b", "127.0.0.1", "-p", "{port}",
                         "config.asgi:application"],
        "env": lambda: server_environment(**env),
    }


# Every peer: argv() (may raise NotInstalled), env(), describe. Each
# benchmark picks the ones it measures by name.
SERVERS = {
    "ours": {
        **_ours(),
        "describe": "this project: realtime.server (Daphne + realtime/server, uvloop), EchoConsumer, "
                    "project defaults (request tracing and flood control on)",
    },
    "stock": {
        "argv": lambda: ["{python}", "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", "{port}",
                         "bench.stock_echo:application"],
        "env": stock_environment,
        "describe": "stock Daphne (Twisted's default asyncio loop) + a stock Channels AsyncWebsocketConsumer "
                    "echo (bench/stock_echo.py)",
    },
    "stock-uvloop": {
        "argv": lambda: ["{python}", "-m", "bench.peers.stock_daphne_uvloop", "-v", "0", "-b", "127.0.0.1",
                         "-p", "{port}", "bench.stock_echo:application"],
        "env": stock_environment,
        "describe": "stock Daphne on uvloop, the event loop ours runs on (bench/peers/stock_daphne_uvloop.py), "
                    "same stock consumer",
    },
    "uvicorn": {
        "argv": lambda: ["{python}", "-m", "uvicorn", "--loop", "uvloop", "--http", "httptools", "--ws",
                         "websockets", "--lifespan", "off", "--log-level", "warning", "--no-access-log",
                         "--host", "127.0.0.1", "--port", "{port}", "bench.stock_echo:application"],
        "env": stock_environment,
        "describe": "the same stock Channels consumer on uvicorn[standard] (uvloop, httptools, websockets)",
    },
    "websockets": {
        "argv": lambda: ["{python}", "-m", "bench.raw_websockets_echo", "{port}"],
        "env": server_environment,
        "describe": "a raw `websockets` echo server on uvloop, no Django (bench/raw_websockets_echo.py)",
    },
    "gorilla": {
        "argv": lambda: [str(go_binary("gorilla_echo", needs_gorilla=True)), "-addr", "127.0.0.1:{port}"],
        "env": server_environment,
        "describe": "gorilla/websocket's echo example in Go (bench/peers/gorilla_echo), Debian's packages",
    },
}


def resolve(name, servers=None):
    """(argv, None) for a peer that can run here, or (None, reason)."""
    try:
        return (servers or SERVERS)[name]["argv"](), None
    except NotInstalled as missing:
        return None, str(missing)
