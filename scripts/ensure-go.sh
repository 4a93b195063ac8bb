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
"$(dirname "$0")/apt-install.sh" "the benchmark's Go peers" golang-go golang-github-gorilla-websocket-dev ||
    echo "Go peers not installed: apt-get install golang-go golang-github-gorilla-websocket-dev failed" >&2
exit 0
