#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kubectl from the Go module proxy once and caches them, for the
# e2e suite's real Kubernetes API server (no kubelet: Traefik's providers only read resources).
# Neither builds with `go install`: etcd in a scratch module, Kubernetes in a copy of its module
# whose staging replaces point at the published k8s.io modules. Prints the cache directory.
set -euo pipefail
etcd_version="${ETCD_VERSION:-v3.6.8}"
kube_version="${KUBE_VERSION:-v1.34.4}"
cache="${WITHAUTH_CACHE:-$HOME/.cache/withauth}/kubernetes-$kube_version-etcd-$etcd_version"
if [ -x "$cache/etcd" ] && [ -x "$cache/kube-apiserver" ] && [ -x "$cache/kubectl" ]; then
  echo "$cache"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

if [ ! -x "$cache/etcd" ]; then
  echo "build-kubernetes: building etcd $etcd_version (about a minute)" >&2
  mkdir -p "$work/etcd" && cd "$work/etcd"
  go mod init withauth-etcd-build >/dev/null 2>&1
  go get -tool "go.etcd.io/etcd/server/v3@$etcd_version" >&2
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$cache/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$cache/etcd.tmp" "$cache/etcd"
fi

if [ ! -x "$cache/kube-apiserver" ] || [ ! -x "$cache/kubectl" ]; then
  echo "build-kubernetes: building kube-apiserver and kubectl $kube_version (about 8 minutes the first time)" >&2
  dir=$(go mod download -json "k8s.io/kubernetes@$kube_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { echo "build-kubernetes: no module source for k8s.io/kubernetes $kube_version" >&2; exit 1; }
  cp -r "$dir/." "$work/kubernetes"
  chmod -R u+w "$work/kubernetes"
  cd "$work/kubernetes"
  rm -f go.work go.work.sum
  staging_version="v0.${kube_version#v1.}"
  for module in $(sed -n 's/^[[:space:]]*\(k8s.io\/[^ ]*\) => \.\/staging\/.*/\1/p' go.mod); do
    if grep -qE "^[[:space:]]*$module v" go.mod; then
      go mod edit -replace="$module=$module@$staging_version"
    else
      go mod edit -dropreplace="$module"
    fi
  done
  minor=${kube_version#v1.}; minor=${minor%%.*}
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$kube_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$kube_version"
  GOWORK=off CGO_ENABLED=0 go build -mod=mod -trimpath -ldflags "$ldflags" -o "$cache/kube-apiserver.tmp" ./cmd/kube-apiserver
  GOWORK=off CGO_ENABLED=0 go build -mod=mod -trimpath -ldflags "$ldflags" -o "$cache/kubectl.tmp" ./cmd/kubectl
  mv "$cache/kube-apiserver.tmp" "$cache/kube-apiserver"
  mv "$cache/kubectl.tmp" "$cache/kubectl"
fi
echo "$cache"
