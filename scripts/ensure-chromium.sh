#!/usr/bin/env bash
# Installs Debian's chromium when it is missing (the page tests drive it).
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
exec "$(dirname "$0")/apt-install.sh" "the browser tests" chromium
