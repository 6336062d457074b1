#!/usr/bin/env bash
# Builds the real Jaeger the tracing tests run on loopback (test/jaegertest):
# the `jaeger` binary (Jaeger v2, an OpenTelemetry Collector distribution)
# of github.com/jaegertracing/jaeger v1.76.0, from the Go module proxy
# (module test/jaeger), into .cache/jaeger/bin/jaeger (or $JAEGER_BIN_DIR).
# The tests look for it there, or at $JAEGER_BIN.
#
# Idempotent: the binary is rebuilt only when it is missing or when its
# module (go.mod, go.sum), the Go version or the platform changed (a hash
# stamp next to the binary). The first build took 20.5 minutes on 2
# shared, busy cores (11 min user + 3.5 min sys CPU; downloading the
# modules took 2 minutes more); a rebuild from the Go build cache takes
# about 20 s, and a run with nothing to do a fraction of a second.
#
# In CI (CI=true) a failed build fails; elsewhere it warns, and the tests
# that need Jaeger skip.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=${JAEGER_BIN_DIR:-$root/.cache/jaeger/bin}
dir=$root/test/jaeger
pkg=github.com/jaegertracing/jaeger/cmd/jaeger
mkdir -p "$bin"

command -v go >/dev/null || { echo "jaeger-bin: Go is required" >&2; exit 1; }

fail() {
  echo "jaeger-bin: $*" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  echo "jaeger-bin: continuing; the tests that need Jaeger will skip" >&2
  exit 0
}

# A hash of everything the build depends on.
want=$({
  go version
  go env GOOS GOARCH CGO_ENABLED
  cat "$dir/go.mod" "$dir/go.sum"
} | sha256sum | cut -d' ' -f1)
have=""
[ -f "$bin/jaeger.stamp" ] && have=$(cat "$bin/jaeger.stamp")
if [ -x "$bin/jaeger" ] && [ "$have" = "$want" ]; then
  echo "jaeger-bin: jaeger up to date"
  exit 0
fi

echo "jaeger-bin: building jaeger from $dir (one time: about 4 minutes, up to 14 on a busy machine; 2 cores, no output until it is done)"
start=$SECONDS
# The go.mod and go.sum are committed: build exactly what they pin.
if ! (cd "$dir" && GOWORK=off GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -ldflags='-s -w' -o "$bin/jaeger.tmp" "$pkg"); then
  rm -f "$bin/jaeger.tmp"
  fail "building jaeger failed"
fi
mv -f "$bin/jaeger.tmp" "$bin/jaeger"
echo "$want" >"$bin/jaeger.stamp"
echo "jaeger-bin: built jaeger in $((SECONDS - start))s"
