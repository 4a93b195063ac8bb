#!/usr/bin/env bash
# Go and gorilla/websocket for the benchmark's Go peers (gorilla's echo
# server, the echo load client), from Debian: golang-go and
# golang-github-gorilla-websocket-dev (sources under /usr/share/gocode, built
# in GOPATH mode, nothing downloaded). When they cannot be installed this
# says so and exits 0: `make bench` still runs, and those rows say
# "not installed".
set -uo pipefail
if command -v go >/dev/null 2>&1 && [ -d /usr/share/gocode/src/github.com/gorilla/websocket ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "Go peers not installed (needs root): apt-get install golang-go golang-github-gorilla-websocket-dev" >&2
    exit 0
fi
echo "installing Debian golang-go and golang-github-gorilla-websocket-dev for the benchmark's Go peers..."
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        golang-go golang-github-gorilla-websocket-dev >/dev/null; then
    $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        golang-go golang-github-gorilla-websocket-dev >/dev/null ||
    echo "Go peers not installed: apt-get install golang-go golang-github-gorilla-websocket-dev failed" >&2
fi
exit 0
