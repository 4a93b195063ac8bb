"""The Go programs among the peers (gorilla/websocket's echo and time server,
the Go load client), built on first use from bench/peers/<name>/ with
Debian's golang-go and golang-github-gorilla-websocket-dev
(scripts/ensure-go.sh) into bench/.build/, rebuilt when a source file is
newer than the binary. When Go or the package is missing, `go_binary`
raises NotInstalled with a one-line reason the benchmark prints in that row
while the others still run.
"""

import os
import shutil
import subprocess
from pathlib import Path

from bench.common import ROOT

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
    result = subprocess.run([go, "build", "-o", str(partial), "."], cwd=source, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise NotInstalled(f"did not build: go build {source.relative_to(ROOT)}: {first}")
    partial.replace(binary)
    return binary
