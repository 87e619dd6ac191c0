#!/usr/bin/env bash
# Runs every test: installs dependencies, builds the dev (g++) and asan
# (clang ASan+UBSan, with the libFuzzer targets) presets with warnings as
# errors, runs the unit, golden and packaging tests in both, the WASM build with
# the npm package's Node tests and the example app in Chromium, and short
# libFuzzer runs of the codec and the connection handler.
#
# Environment: TOPGUN_UPSTREAM_GOLDEN=DIR also verifies the reference
# implementation's fixtures; FUZZ_SECONDS (default 30) bounds the fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# The JS protocol client's packages (exact versions in its package.json; `npm ci`
# trips over msgpackr's optional per-platform packages missing from the lock).
npm install --prefix tests/js-protocol --no-audit --no-fund --loglevel=error

jobs=$(nproc)
run_preset() {
  local preset=$1
  echo "=== [$preset] configure + build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== [$preset] test"
  ctest --preset "$preset" -j "$jobs"
}

run_preset dev
echo "=== [wasm] Emscripten build, Node tests of js-bindings, todo-web in Chromium"
bash scripts/test-wasm.sh
run_preset asan

# The fuzzers come from the asan build (its code carries the coverage
# instrumentation): no third compile of the server.
fuzz_seconds=${FUZZ_SECONDS:-30}
echo "=== [fuzz] codec and connection fuzzers, ${fuzz_seconds}s each"
fuzz=build/asan/tests/fuzz
mkdir -p build/fuzz-corpus/codec build/fuzz-corpus/connection
"$fuzz/fuzz-codec" build/fuzz-corpus/codec golden tests/fuzz/seeds \
  -max_total_time="$fuzz_seconds" -max_len=4096 -print_final_stats=1 2>&1 | tail -n 12
"$fuzz/fuzz-connection" build/fuzz-corpus/connection tests/fuzz/seeds-connection \
  -max_total_time="$fuzz_seconds" -max_len=8192 -print_final_stats=1 2>&1 | tail -n 12

echo "=== all tests passed"
