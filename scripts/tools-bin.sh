#!/usr/bin/env bash
# Installs the lint tools `make lint` runs, pinned, from the Go module
# proxy into .cache/tools (or $TOOLS_DIR): staticcheck and goimports.
# Idempotent: a tool is rebuilt only when its version stamp changed. The
# first build takes about a minute on 2 cores; later runs take no time.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${TOOLS_DIR:-$PWD/.cache/tools}
mkdir -p "$dir"

# need NAME PACKAGE@VERSION
need() {
  local name=$1 pkg=$2
  if [ -x "$dir/$name" ] && [ "$(cat "$dir/$name.version" 2>/dev/null)" = "$pkg $(go env GOVERSION)" ]; then
    return 0
  fi
  echo "tools: building $pkg into $dir (once, about a minute)"
  if ! GOBIN="$dir" go install "$pkg"; then
    echo "tools: could not build $pkg" >&2
    exit 1
  fi
  echo "$pkg $(go env GOVERSION)" >"$dir/$name.version"
}

need staticcheck honnef.co/go/tools/cmd/staticcheck@v0.8.2
need goimports golang.org/x/tools/cmd/goimports@v0.52.0
