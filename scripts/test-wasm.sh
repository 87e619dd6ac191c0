#!/usr/bin/env bash
# Builds the WASM core (the `wasm` preset: Emscripten, outputs in
# js-bindings/dist), runs the npm package's Node tests against it (the interop
# ones against the reference Rust server, which scripts/reference-server.sh
# installs from npm), then builds examples/todo-web and runs it in Chromium
# (tests/browser, playwright-core).
# scripts/test.sh calls it after the dev build, whose topgun-server the client
# and browser tests start (or set TOPGUN_SERVER_BINARY); install-deps.sh
# provides Emscripten and Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

npm_install() { npm install --prefix "$1" --no-audit --no-fund --loglevel=error; }

# Emscripten 3.1.6 finds Debian's acorn only here (TOOLCHAIN.md).
export NODE_PATH=/usr/share/nodejs
cmake --preset wasm >/dev/null
cmake --build --preset wasm
npm_install js-bindings
reference_status=0
reference=$(bash scripts/reference-server.sh) || reference_status=$?
case $reference_status in
  0) export TOPGUN_REFERENCE_SERVER=$reference ;;
  2) echo "test-wasm: the interop tests skip: no reference server for this platform" >&2 ;;
  *) exit "$reference_status" ;;
esac
(cd js-bindings && node --test test/*.test.mjs)

npm_install examples/todo-web
(cd examples/todo-web && node build.mjs)
npm_install tests/browser
(cd tests/browser && node --test)
