#!/usr/bin/env bash
# Redis for the tests: Debian's redis-server (the Redis-topology tests also
# start their own redis-server and `redis-server --sentinel` processes on free
# ports), and a Redis answering on 127.0.0.1:6379 for the tests that share it.
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    "$(dirname "$0")/apt-install.sh" "the tests" redis-server redis-tools
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
