#!/usr/bin/env bash
# Debian's PostgreSQL binaries for the tests. When no PostgreSQL answers at
# TEST_POSTGRES_URL (default 127.0.0.1:5432), the tests start a private
# cluster of their own with initdb and pg_ctl from /usr/lib/postgresql/*/bin
# (tests/support/postgres.py); this only makes sure those binaries exist.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "PostgreSQL is missing and this user cannot install it: run 'apt-get install postgresql' as root" >&2
    exit 1
fi
echo "installing Debian postgresql for the tests..."
$SUDO apt-get update -qq
# Only the binaries are wanted; don't let the package start a system cluster
# (policy-rc.d 101 = "don't start services"), unless a policy is already set.
OWN_POLICY=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    OWN_POLICY=1
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
if [ -n "$OWN_POLICY" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
