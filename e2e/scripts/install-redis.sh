#!/usr/bin/env bash
# Installs redis-server from Debian's packages when it is missing (the e2e suite's replay store
# shared by two Traefik replicas), and prints its path. The tests start their own server, bound
# to 127.0.0.1 on a free port, and stop it; the package's own service is not started here.
set -euo pipefail
if path=$(command -v redis-server); then
  echo "$path"
  exit 0
fi
echo "install-redis: installing redis-server from Debian's packages" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y --no-install-recommends redis-server >&2; then
  $sudo apt-get update >&2
  $sudo apt-get install -y --no-install-recommends redis-server >&2
fi
# The package may start its service: the tests need none, and it would hold port 6379.
if command -v service >/dev/null 2>&1; then $sudo service redis-server stop >/dev/null 2>&1 || true; fi
command -v redis-server
