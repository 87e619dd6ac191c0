#!/usr/bin/env bash
# Builds the WASM core (the `wasm` preset: Emscripten, outputs in
# js-bindings/dist) and runs the npm package's Node tests against it.
# scripts/test.sh calls it after the dev build, whose topgun-server the client
# tests start (or set TOPGUN_SERVER_BINARY); install-deps.sh provides Emscripten.
set -euo pipefail
cd "$(dirname "$0")/.."

# Emscripten 3.1.6 finds Debian's acorn only here (TOOLCHAIN.md).
export NODE_PATH=/usr/share/nodejs
cmake --preset wasm >/dev/null
cmake --build --preset wasm
npm install --prefix js-bindings --no-audit --no-fund --loglevel=error
cd js-bindings
node --test test/
