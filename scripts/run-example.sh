#!/usr/bin/env bash
# Builds and runs the C++ example, examples/cpp-embed (the headers alone).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release -DTOPGUN_BUILD_BENCH=OFF >/dev/null
cmake --build --preset release --target topgun-example-cpp-embed
./build/release/examples/topgun-example-cpp-embed
