#!/usr/bin/env bash
# Installs what `make test` needs, idempotently. Everything heavy is cached
# under .cache/ so a second run does nothing. In CI (CI=true) a missing
# dependency is a failure, never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

need_go() {
  command -v go >/dev/null || { echo "deps: Go is required (https://go.dev/dl)"; exit 1; }
}
need_go
go mod download
echo "deps: ok"
