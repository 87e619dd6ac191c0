#!/usr/bin/env bash
# Interop check by hand: runs the reference TopGun repository's integration
# suite (tests/integration-rust, which drives raw protocol clients and the real
# TS client SDK) against our topgun-server, the way UPSTREAM.md §3.3 describes.
# The suite stays in a reference checkout outside this project; nothing of it
# is copied here. Prints jest's per-test results and a line per test file.
#
#   bash scripts/reference-suite.sh /path/to/topgun-checkout              # every file
#   bash scripts/reference-suite.sh /path/to/topgun-checkout reconnect merkle-sync
#
# Environment: TOPGUN_SERVER (default: the release build, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
project=$PWD

checkout=${1:?usage: scripts/reference-suite.sh /path/to/topgun-checkout [test-name ...]}
shift
[[ -f $checkout/tests/integration-rust/jest.config.js ]] || {
  echo "reference-suite: $checkout has no tests/integration-rust (clone TopGunBuild/topgun there)" >&2
  exit 2
}
server=${TOPGUN_SERVER:-}
if [[ -z $server ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target topgun-server
  server=$project/build/release/native/server/topgun-server
fi

cd "$checkout"
[[ -x node_modules/.bin/jest ]] || pnpm install --frozen-lockfile
files=()
for name in "$@"; do files+=("tests/integration-rust/$name.test.ts"); done

# Node 20 has the global WebSocket the TS client uses only behind this flag.
export NODE_OPTIONS="--experimental-websocket ${NODE_OPTIONS:-}"
export RUST_SERVER_BINARY=$server
log=$(mktemp)
status=0
node_modules/.bin/jest --config tests/integration-rust/jest.config.js --runInBand "${files[@]}" >"$log" 2>&1 || status=$?
grep -vE '^[0-9-]+ [0-9:.]+ (info|debug) |^\{"level":[0-9]+' "$log"   # jest's report without server and client logs
echo "--- per file:"
grep -E '^(PASS|FAIL) ' "$log"
rm -f "$log"
exit $status
