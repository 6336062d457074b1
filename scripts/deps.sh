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
  echo "deps: installing $pkg (for $cmd; one time, up to a minute or two)"
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
apt_need redis-server redis-server   # rate limits shared across replicas (internal/sharedstate, test/e2e)
apt_need promtool prometheus   # promtool: metrics lint, rule checks and rule unit tests (internal/telemetry, test/promtool)
PATH="$PATH:/usr/sbin:/sbin"   # nginx installs to /usr/sbin, not on every user's PATH
apt_need nginx nginx   # the benchmark harness's C reference proxy (bench/, make bench and bench-smoke)
apt_need wrk wrk   # closed-loop load for the benchmark harness (bench/)
apt_need npm npm   # installs the MCP conformance suite and its Node.js 22 (scripts/conformance-bin.sh, test/conformance)
apt_need chromium chromium   # renders the admin status pages headless (internal/gateway TestStatusPagesInChromium)

# Debian's prometheus package starts a Prometheus server on :9090, the
# gateway's default admin port, and may bring prometheus-node-exporter
# along. The tests only use promtool: stop and disable both services.
stop_service() {
  local svc=$1 sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    if systemctl is-active --quiet "$svc" 2>/dev/null || systemctl is-enabled --quiet "$svc" 2>/dev/null; then
      echo "deps: stopping and disabling the $svc service (tests only need promtool; it would hold :9090)"
      $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
  elif [ -e "/etc/init.d/$svc" ]; then
    if command -v service >/dev/null && $sudo service "$svc" status >/dev/null 2>&1; then
      echo "deps: stopping the $svc service (tests only need promtool; it would hold :9090)"
      $sudo service "$svc" stop >/dev/null 2>&1 || true
    fi
    if compgen -G "/etc/rc[2-5].d/S[0-9][0-9]$svc" >/dev/null && command -v update-rc.d >/dev/null; then
      echo "deps: disabling the $svc service at boot"
      $sudo update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  fi
}
stop_service prometheus
stop_service prometheus-node-exporter

go mod download
echo "deps: ok"
