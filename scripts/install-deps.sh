#!/usr/bin/env bash
# Installs every Debian package the project needs. Idempotent: when everything
# is present it only runs dpkg queries and returns in about a second.
set -euo pipefail

packages=(
  # toolchain
  g++ clang-14 libclang-rt-14-dev cmake ninja-build ccache
  # libraries used by the core's tests, the tools and the benchmarks
  catch2 libbenchmark-dev nlohmann-json3-dev libcli11-dev
  # the server: Beast/Asio, JWT crypto, storage engines, logs
  libboost1.81-dev libssl-dev libsqlite3-dev libpqxx-dev libpq-dev libspdlog-dev libfmt-dev libjemalloc-dev
  # PostgreSQL itself, for the storage tests (run under pg_virtualenv)
  postgresql postgresql-common
  # the JS-side protocol tests (npm ships with it, or as its own package)
  nodejs
  # the WASM build of the core (Emscripten 3.1.6; acorn for its JS optimiser)
  emscripten node-acorn
  # the real-browser test of examples/todo-web (driven by playwright-core from npm)
  chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#packages[@]} packages present"
fi

# Debian's nodejs ships npm separately; NodeSource's includes it.
if ! command -v npm >/dev/null; then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm
fi
