#!/usr/bin/env bash
# Installs Debian's nginx when it is missing: tests/deploy/test_compose.py runs the
# compose stack's proxy config with a real nginx on loopback.
set -euo pipefail
{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } && exit 0
"$(dirname "$0")/apt-install.sh" "the compose parity test" nginx-light ||
    exec "$(dirname "$0")/apt-install.sh" "the compose parity test" nginx
