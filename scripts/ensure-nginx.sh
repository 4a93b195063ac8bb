#!/usr/bin/env bash
# Installs Debian's nginx when it is missing: tests/deploy/test_compose.py runs the
# compose stack's proxy config with a real nginx on loopback.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "nginx is missing and this user cannot install it: run 'apt-get install nginx-light' as root" >&2
    exit 1
fi
echo "installing Debian nginx for the compose parity test..."
$SUDO apt-get update -qq
# Only the binary is wanted; don't let the package start a system nginx
# (policy-rc.d 101 = "don't start services"), unless a policy is already set.
OWN_POLICY=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    OWN_POLICY=1
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx-light >/dev/null || \
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx >/dev/null
if [ -n "$OWN_POLICY" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
