#!/usr/bin/env bash
# Creates the Python 2.7 virtualenv that runs the Autobahn TestSuite (wstest).
# autobahntestsuite only runs on Python 2.7; this machine kind ships 2.7.18 in
# pyenv. Usage: scripts/ensure-autobahn.sh [VENV_DIR]  (default .autobahn-venv)
set -euo pipefail
VENV="${1:-.autobahn-venv}"
PY27="${AUTOBAHN_PYTHON27:-/root/.pyenv/versions/2.7.18/bin/python}"
if [ -x "$VENV/bin/wstest" ]; then
    exit 0
fi
if [ ! -x "$PY27" ]; then
    # One line: `make test` goes on without wstest and shows only this.
    echo "no Autobahn TestSuite: it needs Python 2.7.18 at $PY27 (make conformance and tests/server/test_conformance.py fail without it); install it with 'pyenv install 2.7.18' or point AUTOBAHN_PYTHON27 at a Python 2.7 interpreter" >&2
    exit 1
fi
echo "creating the Autobahn TestSuite venv in $VENV (Python 2.7)..."
# virtualenv 20.22 dropped support for creating Python 2 environments.
"$PY27" -m pip --version >/dev/null 2>&1 || { echo "$PY27 has no pip" >&2; exit 1; }
"$PY27" -m pip install --quiet --disable-pip-version-check "virtualenv<20.22"
"$PY27" -m virtualenv --quiet "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "autobahntestsuite==25.10.1"
"$VENV/bin/wstest" --help >/dev/null
echo "wstest ready: $VENV/bin/wstest"
