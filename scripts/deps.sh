#!/usr/bin/env bash
# Installs what `make test` needs, idempotently: a second run finds
# everything in place and does nothing. Heavy builds are cached under
# .cache/. In CI (CI=true) a dependency that cannot be installed is a
# failure, never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || { echo "deps: Go is required (https://go.dev/dl)" >&2; exit 1; }

# apt_need CMD PACKAGE: installs PACKAGE when CMD is missing.
apt_need() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null && return 0
  echo "deps: installing $pkg (for $cmd)"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if command -v apt-get >/dev/null; then
    $sudo apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$pkg" >/dev/null
  fi
  command -v "$cmd" >/dev/null && return 0
  echo "deps: $cmd is missing and could not be installed (apt package $pkg)" >&2
  [ "${CI:-}" = "true" ] && exit 1
  return 0
}

apt_need curl curl   # the demo test pastes the demo's curl commands into a shell
apt_need redis-server redis-server   # rate limits shared across replicas (internal/ratelimit, test/e2e)
apt_need promtool prometheus   # promtool: metrics lint, rule checks and rule unit tests (internal/telemetry, test/promtool)
PATH="$PATH:/usr/sbin:/sbin"   # nginx installs to /usr/sbin, not on every user's PATH
apt_need nginx nginx   # the benchmark harness's C reference proxy (bench/, make bench and bench-smoke)
apt_need wrk wrk   # closed-loop load for the benchmark harness (bench/)
apt_need npm npm   # installs the MCP conformance suite and its Node.js 22 (scripts/conformance-bin.sh, test/conformance)

go mod download
echo "deps: ok"
