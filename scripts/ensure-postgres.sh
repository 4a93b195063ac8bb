#!/usr/bin/env bash
# Debian's PostgreSQL binaries for the tests. When no PostgreSQL answers at
# TEST_POSTGRES_URL (default 127.0.0.1:5432), the tests start a private
# cluster of their own with initdb and pg_ctl from /usr/lib/postgresql/*/bin
# (tests/support/postgres.py); this only makes sure those binaries exist.
set -euo pipefail
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && exit 0
exec "$(dirname "$0")/apt-install.sh" "the tests' private PostgreSQL" postgresql
