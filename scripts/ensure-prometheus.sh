#!/usr/bin/env bash
# Installs Debian's Prometheus (with promtool) when it is missing:
# tests/ops/test_prometheus.py runs a real Prometheus scraping two server
# processes, and tests/ops/test_deploy_files.py checks
# deploy/prometheus/prometheus.yml with promtool.
set -euo pipefail
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && exit 0
exec "$(dirname "$0")/apt-install.sh" "the metrics tests" prometheus
