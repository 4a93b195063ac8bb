#!/usr/bin/env bash
# Installs Debian packages for the project's tools, the one way every
# scripts/ensure-*.sh does it: as root (or through sudo), waiting for another
# apt run's lock rather than failing on it, and without letting a package
# start a system service (policy-rc.d 101 = "don't start services", unless a
# policy is already set): only the binaries are wanted.
#   scripts/apt-install.sh "what it is for" PACKAGE...
set -euo pipefail
purpose="$1"; shift
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "$* missing and this user cannot install it: run 'apt-get install $*' as root ($purpose)" >&2
    exit 1
fi
echo "installing Debian $* for $purpose..."
APT=($SUDO apt-get -o DPkg::Lock::Timeout=300)
"${APT[@]}" update -qq
OWN_POLICY=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    OWN_POLICY=1
fi
status=0
DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq --no-install-recommends "$@" >/dev/null || status=$?
if [ -n "$OWN_POLICY" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
exit "$status"
