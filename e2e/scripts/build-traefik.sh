#!/usr/bin/env bash
# Builds Traefik from the Go module proxy once and caches the static binary.
# `go install` refuses Traefik (its go.mod has replace directives), so the module source
# is downloaded, copied and built in place with CGO_ENABLED=0 (static: fits a FROM scratch image).
set -euo pipefail
version="${TRAEFIK_VERSION:-v3.6.12}"
cache="${WITHAUTH_CACHE:-$HOME/.cache/withauth}"
# -r2: built with its build date set (the build recipe's revision: a change rebuilds the cache).
bin="$cache/traefik-$version-r2"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
info=$(go mod download -json "github.com/traefik/traefik/v3@$version")
dir=$(echo "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
# The release's date, as the module proxy records it (the .info file): Traefik prints it at start.
info_file=$(echo "$info" | sed -n 's/^[[:space:]]*"Info": "\(.*\)",$/\1/p')
built=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info_file" 2>/dev/null)
[ -n "$dir" ] || { echo "build-traefik: go mod download gave no Dir for traefik $version" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$dir/." "$work/src"
chmod -R u+w "$work/src"
echo "build-traefik: building Traefik $version (about 13 minutes the first time)" >&2
(cd "$work/src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=${version#v} -X github.com/traefik/traefik/v3/pkg/version.BuildDate=${built:-unknown}" -o "$bin.tmp" ./cmd/traefik)
mv "$bin.tmp" "$bin"
echo "$bin"
