#!/usr/bin/env bash
# Ingest side by side: Stowage and Orthanc 1.10.x one after the other (never together), each on
# its default configuration in a fresh folder, ROUNDS times alternately: N1 instances of
# 131 KiB at one client, then N8 at eight clients.
#
#   bench/ingest-side-by-side.sh            # knobs: ROUNDS (2) N1 (2000) N8 (3000)
#   STOWAGE_BIN=... BENCH=... ORTHANC_BIN=... WORK=/path/on/the/disk/to/measure
#   BASELINE_BIN=...   another Stowage binary (an earlier commit), run first in each round
#
# The folders are kept until the end: deleting thousands of files just before the next server
# starts would slow its file creation (ext4 skips recently freed inodes), unfairly. For the same
# reason, WORK is best a new folder at the root of the filesystem, away from the block groups
# that tests and earlier runs freed (bench/RESULTS.md, "Method").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STOWAGE_BIN=${STOWAGE_BIN:-$ROOT/target/release/stowage}
BENCH=${BENCH:-$ROOT/target/release/stowage-bench}
ORTHANC_BIN=${ORTHANC_BIN:-/usr/sbin/Orthanc}
ROUNDS=${ROUNDS:-2} N1=${N1:-2000} N8=${N8:-3000}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/ingest-sbs.XXXX")}
PORT=${PORT:-18142}
dirs=()
trap 'rm -rf "${dirs[@]}"' EXIT

run_one() { # NAME BIN
  local name=$1 bin=$2 d pid run
  d=$(mktemp -d "$WORK/$name.XXXX"); dirs+=("$d")
  cat >"$d/config.json" <<JSON
{"HttpPort": $PORT, "DicomPort": $((PORT + 100)), "StorageDirectory": "$d/storage",
 "IndexDirectory": "$d/storage", "RemoteAccessAllowed": true, "AuthenticationEnabled": false}
JSON
  "$bin" "$d/config.json" >"$d/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/system" && break; sleep 0.2; done
  run=$(date +%s%3N)
  echo "== $name $(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$BENCH" ingest --url "http://127.0.0.1:$PORT" --instances "$N1" --concurrency 1 \
    --run-id "$run" --label "$name" --server-pid "$pid" | grep -v '^{'
  "$BENCH" ingest --url "http://127.0.0.1:$PORT" --instances "$N8" --concurrency 8 \
    --run-id "$((run + 1))" --label "$name" --server-pid "$pid" | grep -v '^{'
  kill "$pid"; wait "$pid" || true
  sleep 5
}

for _ in $(seq "$ROUNDS"); do
  if [ -n "${BASELINE_BIN:-}" ]; then run_one baseline "$BASELINE_BIN"; fi
  run_one stowage "$STOWAGE_BIN"
  run_one orthanc "$ORTHANC_BIN"
done
