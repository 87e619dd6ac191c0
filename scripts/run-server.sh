#!/usr/bin/env bash
# Builds and runs topgun-server on the embedded default storage (SQLite file
# under ./data), no external service needed. Extra arguments go to the server,
# e.g. `bash scripts/run-server.sh --port 9000`.
#
# Without JWT_SECRET it runs in no-auth development mode, reachable from this
# machine only; set JWT_SECRET (an HS256 secret or an RSA public key PEM) for
# authenticated clients on every interface.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target topgun-server

if [[ -z "${JWT_SECRET:-}" && -z "${TOPGUN_NO_AUTH:-}" ]]; then
  echo "run-server: JWT_SECRET is not set: starting in no-auth mode on loopback (set JWT_SECRET to require tokens)" >&2
  export TOPGUN_NO_AUTH=1
fi
mkdir -p data
exec build/release/native/server/topgun-server --data-dir data "$@"
