#!/usr/bin/env bash
# Builds the real Kubernetes components the e2e tests run on loopback
# (test/kubeenv): kube-apiserver v1.37.2 (module test/kube) and etcd v3.6.5
# (module test/kube/cmd/etcd), from the Go module proxy, into
# .cache/kube/bin/ (or $KUBE_BIN_DIR).
#
# Idempotent: a binary is rebuilt only when it is missing or when its
# module (go.mod, go.sum, main.go), the Go version or the platform changed
# (a hash stamp next to the binary). The first build takes about 5 minutes
# for kube-apiserver and 2 for etcd on 2 cores; later runs take a second.
#
# In CI (CI=true) a failed build fails; elsewhere it warns, and the tests
# that need the binaries skip.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=${KUBE_BIN_DIR:-$root/.cache/kube/bin}
mkdir -p "$bin"

command -v go >/dev/null || { echo "kube-bins: Go is required" >&2; exit 1; }

fail() {
  echo "kube-bins: $*" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  echo "kube-bins: continuing; the tests that need a kube-apiserver will skip" >&2
  exit 0
}

# stamp MODDIR PKGDIR: a hash of everything the build depends on.
stamp() {
  local dir=$1 pkgdir=$2
  {
    go version
    go env GOOS GOARCH CGO_ENABLED
    cat "$dir/go.mod" "$dir/go.sum" "$pkgdir"/*.go
  } | sha256sum | cut -d' ' -f1
}

# build NAME MODDIR PKG
build() {
  local name=$1 dir=$2 pkg=$3
  local want have=""
  want=$(stamp "$dir" "$dir/$pkg")
  [ -f "$bin/$name.stamp" ] && have=$(cat "$bin/$name.stamp")
  if [ -x "$bin/$name" ] && [ "$have" = "$want" ]; then
    echo "kube-bins: $name up to date"
    return 0
  fi
  # Measured with empty Go caches on 2 cores: quiet / with other builds
  # running (load average about 12).
  local est="about 1 minute, 2 on a busy machine"
  [ "$name" = kube-apiserver ] && est="about 5 minutes, up to 18 on a busy machine"
  echo "kube-bins: building $name from $dir (one time: $est; 2 cores, no output until it is done)"
  local start=$SECONDS
  # The go.mod and go.sum are committed: build exactly what they pin.
  if ! (cd "$dir" && GOWORK=off GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -ldflags='-s -w' -o "$bin/$name.tmp" "$pkg"); then
    rm -f "$bin/$name.tmp"
    fail "building $name failed"
  fi
  mv -f "$bin/$name.tmp" "$bin/$name"
  echo "$want" >"$bin/$name.stamp"
  echo "kube-bins: built $name in $((SECONDS - start))s"
}

build etcd "$root/test/kube/cmd/etcd" .
build kube-apiserver "$root/test/kube" ./cmd/kube-apiserver
