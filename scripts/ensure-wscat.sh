#!/usr/bin/env bash
# Installs wscat (npm) into .node/ for the TLS test (`wscat --ca`). Uses the
# machine's Node.js and npm; fails with a clear message without them.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .node/node_modules/.bin/wscat ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "wscat needs Node.js and npm: apt-get install nodejs npm" >&2
    exit 1
fi
echo "installing wscat into .node/ ..."
npm install --silent --no-audit --no-fund --prefix .node wscat@6 >/dev/null
