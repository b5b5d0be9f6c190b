#!/usr/bin/env bash
# Side-by-side benchmark of Stowage and Orthanc 1.10.x on this machine.
#
# Builds Stowage (release), installs Debian's Orthanc if missing (its service is
# stopped, never used), then for each server in turn (so they never compete for
# the CPU): fresh temp storage, default settings (fsync on, no compression),
# own free ports; ingest at concurrency 1 and 8, load up to TOTAL instances,
# /tools/find and GET benchmarks; finally a side-by-side Markdown table.
#
# Environment knobs (defaults in brackets):
#   SERVERS ["stowage orthanc"]  INGEST_N [2000]  TOTAL [10000]  FIND_N [200]
#   READ_N [2000]  QUIET_WAIT [180]  RUN_BASE [now in ms]  OUT [/tmp/stowage-bench-DATE]  BENCH_TARGET_DIR [workspace target]
#   STOWAGE_BIN / ORTHANC_BIN to use given binaries (skips the build / install)
#   BASELINE_BIN: another Stowage binary (e.g. built from an earlier commit), measured as the
#   server "baseline" when SERVERS names it (SERVERS="baseline stowage orthanc")
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVERS=${SERVERS:-"stowage orthanc"}
INGEST_N=${INGEST_N:-2000}
TOTAL=${TOTAL:-10000}
FIND_N=${FIND_N:-200}
READ_N=${READ_N:-2000}
OUT=${OUT:-/tmp/stowage-bench-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
log() { echo "== $*" | tee -a "$OUT/run.log" >&2; }

# --- (a) build --------------------------------------------------------------
cd "$ROOT"
if [[ -z "${STOWAGE_BIN:-}" ]]; then
  log "building stowage (release)"
  cargo build --release -p stowage
  STOWAGE_BIN=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -E 's/.*"target_directory":"([^"]*)".*/\1/')/release/stowage
fi
log "building stowage-bench (release)"
if [[ -n "${BENCH_TARGET_DIR:-}" ]]; then
  CARGO_TARGET_DIR=$BENCH_TARGET_DIR cargo build --release -p stowage-bench
else
  cargo build --release -p stowage-bench
fi
BENCH=${BENCH_TARGET_DIR:-$(dirname "$(dirname "$STOWAGE_BIN")")}/release/stowage-bench
[[ -x "$BENCH" ]] || { echo "missing $BENCH" >&2; exit 1; }

# --- (b) Orthanc ------------------------------------------------------------
if [[ " $SERVERS " == *" orthanc "* && -z "${ORTHANC_BIN:-}" ]]; then
  if ! command -v Orthanc >/dev/null; then
    log "installing Debian's orthanc package"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y orthanc
  fi
  # The package's own service is not used; make sure it does not run.
  service orthanc stop >/dev/null 2>&1 || true
  ORTHANC_BIN=$(command -v Orthanc)
fi

# --- machine facts ------------------------------------------------------------
{
  echo "date: $(date -Is)"
  echo "nproc: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo || true
  free -m | sed -n 2p
  df -h "$OUT" | tail -1
  echo "kernel: $(uname -r)"
  echo "stowage: $("$STOWAGE_BIN" --version 2>&1 | head -1)"
  [[ -n "${ORTHANC_BIN:-}" ]] && echo "orthanc: $("$ORTHANC_BIN" --version 2>&1 | head -1)"
  # Disk: 500 writes of 132 KiB, each made durable (O_DSYNC), then without sync.
  d=$(mktemp -d "$OUT/disk.XXXX")
  echo "disk 132KiB writes with O_DSYNC: $(dd if=/dev/zero of="$d/f" bs=132k count=500 oflag=dsync 2>&1 | tail -1)"
  echo "disk 132KiB writes, no sync:     $(dd if=/dev/zero of="$d/g" bs=132k count=500 2>&1 | tail -1)"
  rm -rf "$d"
} | tee "$OUT/machine.txt"

# Same data on every server: fixed run ids for the three ingest phases.
RUN_BASE=${RUN_BASE:-$(date +%s%3N)}

# Other work on this shared machine distorts the figures: before each step, wait
# (up to QUIET_WAIT seconds, 180) until the machine is idle (< 15% busy over 2 s).
busy_pct() {
  local a b
  a=($(head -1 /proc/stat)); sleep 2; b=($(head -1 /proc/stat))
  local bt=0 at=0 i
  for i in 1 2 3 4 5 6 7 8; do bt=$((bt + b[i])); at=$((at + a[i])); done
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) tot=$((bt - at))
  echo $(( tot > 0 ? 100 * (tot - idle) / tot : 0 ))
}
wait_quiet() {
  local waited=0 p
  while p=$(busy_pct); [[ $p -ge 15 && $waited -lt ${QUIET_WAIT:-180} ]]; do
    [[ $waited == 0 ]] && log "machine ${p}% busy with other work; waiting for it to calm down"
    waited=$((waited + 2))
  done
  [[ $p -ge 15 ]] && log "machine still ${p}% busy after ${waited}s; measuring anyway"
  return 0
}

free_port() {
  local p=$1
  while (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

run_bench() { # label, args...
  local label=$1; shift
  wait_quiet
  echo "\$ stowage-bench $* --label $label --server-pid $SERVER_PID" >>"$OUT/$label.log"
  timeout 3600 "$BENCH" "$@" --label "$label" --server-pid "$SERVER_PID" | tee -a "$OUT/$label.log"
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "$label: SERVER DIED (see $OUT/$label.server.log)"
    return 1
  fi
}

bench_server() { # name
  local name=$1 bin cfg0 http dicom dir
  dir=$(mktemp -d "/tmp/bench-$name.XXXX")
  http=$(free_port 18042); dicom=$(free_port $((http + 1000)))
  case $name in
    stowage) bin=$STOWAGE_BIN ;;
    baseline) bin=${BASELINE_BIN:?set BASELINE_BIN to the Stowage binary to compare with} ;;
    orthanc) bin=$ORTHANC_BIN ;;
    *) echo "unknown server $name" >&2; return 1 ;;
  esac
  cfg0="$OUT/$name.default.json"
  (cd "$dir" && "$bin" --config="$cfg0")
  "$BENCH" config "$cfg0" "$OUT/$name.json" HttpPort="$http" DicomPort="$dicom" \
    StorageDirectory="$dir/storage" IndexDirectory="$dir/storage" \
    RemoteAccessAllowed=true AuthenticationEnabled=false
  log "$name: starting on port $http (storage $dir/storage)"
  (cd "$dir" && exec "$bin" "$OUT/$name.json") >"$OUT/$name.server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$http/system" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -sf "http://127.0.0.1:$http/system" >/dev/null || { log "$name did not start"; kill "$SERVER_PID"; return 1; }
  local url=http://127.0.0.1:$http rest=$((TOTAL - 2 * INGEST_N)) ok=1
  run_bench "$name" ingest --url "$url" --instances "$INGEST_N" --concurrency 1 --run-id $((RUN_BASE + 1)) || ok=0
  [[ $ok == 1 ]] && { run_bench "$name" ingest --url "$url" --instances "$INGEST_N" --concurrency 8 --run-id $((RUN_BASE + 2)) || ok=0; }
  if [[ $ok == 1 && $rest -gt 0 ]]; then
    run_bench "$name" ingest --url "$url" --instances "$rest" --concurrency 8 --run-id $((RUN_BASE + 3)) --name "load to $TOTAL, c=8" || ok=0
  fi
  [[ $ok == 1 ]] && { run_bench "$name" find --url "$url" --requests "$FIND_N" --concurrency 1 || ok=0; }
  [[ $ok == 1 ]] && { run_bench "$name" read --url "$url" --requests "$READ_N" --concurrency 1 || ok=0; }
  [[ $ok == 1 ]] && { run_bench "$name" read --url "$url" --requests "$((READ_N * 4))" --concurrency 8 --kinds file || ok=0; }
  local rss disk count
  rss=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status" 2>/dev/null || echo "?")
  count=$(curl -s "$url/statistics" | tr -d ' \n' | sed -E 's/.*"CountInstances":([0-9]+).*/\1/' || echo "?")
  disk=$(du -sm "$dir/storage" | cut -f1)
  printf '{"bench":"server","label":"%s","table":[["instances stored at end","%s"],["peak RSS (MiB)","%s"],["storage folder size (MiB)","%s"],["server survived all runs","%s"]]}\n' \
    "$name" "$count" "$rss" "$disk" "$([[ $ok == 1 ]] && echo yes || echo NO)" | tee -a "$OUT/$name.log"
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  [[ -n "${KEEP_STORAGE:-}" ]] || rm -rf "$dir"
}

for s in $SERVERS; do
  bench_server "$s" || log "$s: benchmark incomplete"
done

log "side-by-side (all figures measured on this machine, one server at a time)"
logs=()
for s in $SERVERS; do logs+=("$OUT/$s.log"); done
"$BENCH" report "${logs[@]}" | tee "$OUT/table.md"
log "results in $OUT"
