#!/usr/bin/env bash
# Server load: topgun-bench (native/tools) against our topgun-server with the
# memory and SQLite backends, and against the reference Rust server from npm
# (installed into a cache outside the repository, never a project dependency).
# Prints two Markdown tables: throughput (server, backend, connections, batch,
# mode, ops/s, p50, p99, p999 of the per-batch ack latency send -> OP_ACK), and
# memory and restart (RECORDS records of ~100 bytes written once each: resident
# memory, SIGTERM to exit, restart to PORT=, records loaded, memory after it).
#
#   bash bench/server-load.sh
#   DURATION=5 WARMUP=1 bash bench/server-load.sh
#
# Environment:
#   DURATION, WARMUP    measured and warm-up seconds per row (10, 2)
#   RECORDS             records written for the memory and restart table (1000000)
#   TOPGUN_REF_DIR      reference server cache (default ~/.cache/topgun-ref)
#   TOPGUN_BUILD_DIR    build there with Release settings instead of the `release` preset
#
# Client and servers share this machine's cores: the figures compare servers
# under the same client, they are not the servers' capacity on their own.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null || { echo "server-load: node is needed (it reads topgun-bench --json)" >&2; exit 1; }

duration=${DURATION:-10}
warmup=${WARMUP:-2}
ref_version=$(bash scripts/reference-server.sh --version)

# --- build -----------------------------------------------------------------------------------------
if [[ -n ${TOPGUN_BUILD_DIR:-} ]]; then
  build=$TOPGUN_BUILD_DIR
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTOPGUN_WERROR=ON -DTOPGUN_BUILD_BENCH=ON >/dev/null
  build_cmd=(cmake --build "$build")
else
  build=build/release
  cmake --preset release >/dev/null
  build_cmd=(cmake --build --preset release)
fi
targets=(topgun-bench)
have_server=0
if "${build_cmd[@]}" --target help 2>/dev/null | grep -q '^topgun-server:'; then
  targets+=(topgun-server)
  have_server=1
fi
if ! build_log=$("${build_cmd[@]}" --target "${targets[@]}" 2>&1); then
  echo "$build_log" | tail -30
  echo "server-load: the build failed" >&2
  exit 1
fi
bench=$build/native/tools/topgun-bench
server=$build/native/server/topgun-server

# --- servers (every one started is killed on exit) -----------------------------------------------------
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME BINARY [VAR=value...]: starts BINARY --port 0 and sets
# $port from its "PORT=<n>" line and $server_pid.
start_server() {
  local name=$1 bin=$2
  shift 2
  env -u JWT_SECRET -u TOPGUN_NO_AUTH -u STORAGE_BACKEND -u PORT "$@" "$bin" --port 0 \
    >"$tmp/$name.out" 2>"$tmp/$name.err" &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1 750); do
    port=$(sed -n 's/^PORT=\([0-9][0-9]*\).*/\1/p' "$tmp/$name.out" | head -n 1)
    [[ -n $port ]] && return 0
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "server-load: $name exited before printing PORT=:" >&2
      tail -n 5 "$tmp/$name.err" >&2
      return 1
    fi
    sleep 0.02
  done
  echo "server-load: $name printed no PORT= within 15 s" >&2
  return 1
}
stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}

# --- rows ----------------------------------------------------------------------------------------------
rows=()
notes=()

# One bench --json object -> "ops/s | p50 | p99 | p999" on the first line, notes after it.
# shellcheck disable=SC2016 # the JavaScript's template literals are not shell expansions
summarize() {
  node -e '
    const o = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const ms = (us) => (us / 1000).toFixed(3) + " ms";
    console.log([Math.round(o.opsPerS), ms(o.latencyUs.p50), ms(o.latencyUs.p99), ms(o.latencyUs.p999)].join(" | "));
    const e = o.errors;
    if (e.errorMessages + e.rejectedOps > 0)
      console.log(`${e.errorMessages} ERROR and ${e.rejectedOps} OP_REJECTED, e.g. ${e.samples[0]}`);
    for (const f of o.connectionFailures) console.log(`${f.connections} connection(s) failed: ${f.reason}`);
    const levels = Object.entries(o.achievedLevels).map(([k, v]) => `${k}=${v}`).join(" ");
    console.log(`achieved levels: ${levels || "none"}`);'
}

# run_row SERVER BACKEND CONNECTIONS BATCH MODE [topgun-bench args...]
run_row() {
  local server_name=$1 backend=$2 conns=$3 batch=$4 mode=$5
  shift 5
  local out rc=0 summary line
  out=$("$bench" --url "ws://127.0.0.1:$port/" --connections "$conns" --batch "$batch" --mode "$mode" \
    --duration "$duration" --warmup "$warmup" --json "$@" 2>"$tmp/bench.err") || rc=$?
  if [[ -z $out ]] || ! summary=$(summarize <<<"$out"); then
    rows+=("| $server_name | $backend | $conns | $batch | $mode | failed | | | |")
    notes+=("$server_name, $backend, $conns conn: topgun-bench exited with $rc: $(tr '\n' ' ' <"$tmp/bench.err")")
    return 0
  fi
  rows+=("| $server_name | $backend | $conns | $batch | $mode | $(head -n 1 <<<"$summary") |")
  while IFS= read -r line; do
    notes+=("$server_name, $backend, $conns conn: $line")
  done < <(tail -n +2 <<<"$summary")
  [[ $rc == 0 ]] || notes+=("$server_name, $backend, $conns conn: topgun-bench exited with $rc")
}

if ((have_server)) && [[ -x $server ]]; then
  if start_server ours-memory "$server" STORAGE_BACKEND=memory TOPGUN_NO_AUTH=1; then
    run_row "topgun-server (ours)" memory 50 10 faw
    run_row "topgun-server (ours)" memory 1 1 faw
    stop_server
  fi
  if start_server ours-sqlite "$server" STORAGE_BACKEND=sqlite TOPGUN_SQLITE_PATH="$tmp/load.sqlite" TOPGUN_NO_AUTH=1; then
    run_row "topgun-server (ours)" "sqlite, PERSISTED" 50 10 faw --write-concern PERSISTED
    stop_server
  fi
else
  notes+=("our server skipped: the topgun-server target is not in this tree yet ($server)")
fi

ref_bin=""
if ! ref_bin=$(bash scripts/reference-server.sh 2>"$tmp/ref.log"); then
  notes+=("reference server skipped: $(tail -n 1 "$tmp/ref.log")")
fi
if [[ -n $ref_bin ]]; then
  if start_server reference "$ref_bin" STORAGE_BACKEND=null TOPGUN_NO_AUTH=1; then
    run_row "reference (Rust $ref_version)" memory 50 10 faw
    run_row "reference (Rust $ref_version)" memory 1 1 faw
    stop_server
  fi
fi

# --- memory and restart ----------------------------------------------------------------------------
records=${RECORDS:-1000000}
memory_rows=()
now_ms() { echo $(($(date +%s%N) / 1000000)); }
rss_mb() { awk '/^VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }

# memory_row SERVER_NAME BACKEND BINARY RESTART(0|1) [VAR=value...]: fills a
# fresh server with $records records, then SIGTERM, then (RESTART=1) restarts it.
memory_row() {
  local server_name=$1 backend=$2 bin=$3 restart=$4
  shift 4
  local name="fill-${backend%%,*}" filled rss t0 stop_ms restart_ms="—" loaded="—" rss_after="—"
  start_server "$name" "$bin" "$@" || return 0
  if ! "$bench" --url "ws://127.0.0.1:$port/" --connections 50 --batch 100 --keys "$records" --key-order sequential \
    --value-bytes 100 --duration 600 --warmup 0 --json >"$tmp/fill.json" 2>"$tmp/fill.err"; then
    notes+=("$server_name, $backend: filling failed: $(tr '\n' ' ' <"$tmp/fill.err")")
    stop_server
    return 0
  fi
  filled=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).ackedOps)' <"$tmp/fill.json")
  sleep 3  # storage catches up, freed memory goes back
  rss="$(rss_mb "$server_pid") MB (peak $(awk '/^VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$server_pid/status") MB)"
  t0=$(now_ms)
  stop_server
  stop_ms=$(($(now_ms) - t0))
  if ((restart)); then
    t0=$(now_ms)
    if start_server "$name-restart" "$bin" "$@"; then
      restart_ms="$(($(now_ms) - t0)) ms"
      loaded=$(sed -n 's/.* \([0-9][0-9]*\) records loaded in .*/\1/p' "$tmp/$name-restart.err" | head -n 1)
      rss_after="$(rss_mb "$server_pid") MB"
      stop_server
    fi
  fi
  memory_rows+=("| $server_name | $backend | $filled | $rss | $stop_ms ms | $restart_ms | ${loaded:-?} | $rss_after |")
}

if ((have_server)) && [[ -x $server ]]; then
  memory_row "topgun-server (ours)" memory "$server" 0 STORAGE_BACKEND=memory TOPGUN_NO_AUTH=1
  memory_row "topgun-server (ours)" sqlite "$server" 1 STORAGE_BACKEND=sqlite \
    TOPGUN_SQLITE_PATH="$tmp/memory.sqlite" TOPGUN_NO_AUTH=1
fi
if [[ -n $ref_bin ]]; then
  memory_row "reference (Rust $ref_version)" memory "$ref_bin" 0 STORAGE_BACKEND=null TOPGUN_NO_AUTH=1
fi

# --- report ----------------------------------------------------------------------------------------------
echo "topgun-bench rows: ${duration} s measured after ${warmup} s warm-up, loopback, $(nproc) cores shared by client and server"
echo
echo "| server | backend | connections | batch | mode | ops/s | p50 | p99 | p999 |"
echo "|---|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do echo "$row"; done
echo
echo "Memory and restart: $records records of ~100 bytes, key-0 .. key-$((records - 1)) written once each (50 connections, batches of 100)"
echo
echo "| server | backend | records | resident 3 s after the last ack | SIGTERM to exit | restart to PORT= | records loaded | resident after restart |"
echo "|---|---|---|---|---|---|---|---|"
for row in "${memory_rows[@]}"; do echo "$row"; done
if ((${#notes[@]})); then
  echo
  for note in "${notes[@]}"; do echo "- $note"; done
fi
