#!/usr/bin/env bash
# Redis for the tests: Debian's redis-server (the Redis-topology tests also
# start their own redis-server and `redis-server --sentinel` processes on free
# ports), and a Redis answering on 127.0.0.1:6379 for the tests that share it.
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "redis-server is missing and this user cannot install it: run 'apt-get install redis-server' as root" >&2
        exit 1
    fi
    echo "installing Debian redis-server for the tests..."
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi
# Start one only when nothing answers there; a running Redis is left alone.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "starting redis-server on 127.0.0.1:6379 for the tests..."
    redis-server --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp --daemonize yes >/dev/null
    for _ in $(seq 50); do
        redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && exit 0
        sleep 0.1
    done
    echo "redis-server did not start on 127.0.0.1:6379" >&2
    exit 1
fi
