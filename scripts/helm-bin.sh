#!/usr/bin/env bash
# Builds Helm v3 (pinned in test/helm/tool/go.mod: helm.sh/helm/v3 v3.22.0)
# from the Go module proxy into .cache/helm/bin/helm (or $HELM_BIN_DIR),
# for the chart tests in test/helm.
#
# Idempotent: rebuilt only when the binary is missing or when the module
# (go.mod, go.sum), this script, the Go version or the platform changed (a hash stamp
# next to the binary). The first build takes about 2-3 minutes on 2 cores.
#
# In CI (CI=true) a failed build fails; elsewhere it warns, and the tests
# that need Helm skip.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=${HELM_BIN_DIR:-$root/.cache/helm/bin}
dir=$root/test/helm/tool
mkdir -p "$bin"

command -v go >/dev/null || { echo "helm-bin: Go is required" >&2; exit 1; }

fail() {
  echo "helm-bin: $*" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  echo "helm-bin: continuing; the tests that need helm will skip" >&2
  exit 0
}

want=$({
  go version
  go env GOOS GOARCH CGO_ENABLED
  cat "$dir/go.mod" "$dir/go.sum" "$root/scripts/helm-bin.sh"
} | sha256sum | cut -d' ' -f1)
have=""
[ -f "$bin/helm.stamp" ] && have=$(cat "$bin/helm.stamp")
if [ -x "$bin/helm" ] && [ "$have" = "$want" ]; then
  echo "helm-bin: helm up to date"
  exit 0
fi
# Like Helm's own Makefile: the default Kubernetes version of `helm
# template` and `helm lint` is the client-go minor Helm was built with
# (without it, a `go build` Helm assumes v1.20).
kminor=$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$dir/go.mod")
[ -n "$kminor" ] || fail "no k8s.io/client-go in $dir/go.mod"
ldflags="-s -w"
for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags="$ldflags -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$kminor"
done
echo "helm-bin: building helm from $dir (one time: about 1 minute, up to 5 on a busy machine; 2 cores, no output until it is done)"
start=$SECONDS
# The go.mod and go.sum are committed: build exactly what they pin.
if ! (cd "$dir" && GOWORK=off GOFLAGS="${GOFLAGS:-} -mod=readonly" CGO_ENABLED=0 \
  go build -ldflags="$ldflags" -o "$bin/helm.tmp" helm.sh/helm/v3/cmd/helm); then
  rm -f "$bin/helm.tmp"
  fail "building helm failed"
fi
mv -f "$bin/helm.tmp" "$bin/helm"
echo "$want" >"$bin/helm.stamp"
echo "helm-bin: built helm in $((SECONDS - start))s"
