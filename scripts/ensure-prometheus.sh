#!/usr/bin/env bash
# Installs Debian's Prometheus (with promtool) when it is missing:
# tests/ops/test_prometheus.py runs a real Prometheus scraping two server
# processes, and tests/ops/test_deploy_files.py checks
# deploy/prometheus/prometheus.yml with promtool.
set -euo pipefail
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "prometheus is missing and this user cannot install it: run 'apt-get install prometheus' as root" >&2
    exit 1
fi
echo "installing Debian prometheus for the metrics tests..."
$SUDO apt-get update -qq
# Only the binaries are wanted; don't let the package start a system
# Prometheus (policy-rc.d 101 = "don't start services"), unless a policy is
# already set.
OWN_POLICY=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    OWN_POLICY=1
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if [ -n "$OWN_POLICY" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
