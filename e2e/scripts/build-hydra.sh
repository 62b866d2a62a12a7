#!/usr/bin/env bash
# Builds Ory Hydra (a certified OpenID provider, the e2e suite's real identity provider) from the
# Go module proxy once and caches the binary, as build-traefik.sh caches Traefik. `go install`
# refuses Hydra (replace directives in its go.mod), so it is built in a scratch module that
# repeats Hydra's own pop replace; -tags sqlite gives it the in-memory store (dsn: memory).
set -euo pipefail
version="${HYDRA_VERSION:-v2.3.0}"
cache="${WITHAUTH_CACHE:-$HOME/.cache/withauth}"
bin="$cache/hydra-$version"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
echo "build-hydra: building Ory Hydra $version (about 4 minutes the first time)" >&2
go mod init withauth-hydra-build >/dev/null 2>&1
go mod edit -replace=github.com/gobuffalo/pop/v6=github.com/ory/pop/v6@v6.2.1-0.20241121111754-e5dfc0f3344b
go get -tool "github.com/ory/hydra/v2@$version" >&2
CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -tags sqlite,sqlite_omit_load_extension -o "$bin.tmp" github.com/ory/hydra/v2
mv "$bin.tmp" "$bin"
echo "$bin"
