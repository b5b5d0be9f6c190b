#!/usr/bin/env bash
# Extra benchmarks (see RESULTS.md): PostgreSQL multi-writer scaling, /tools/find on a
# large PostgreSQL (or SQLite) index, storage areas (filesystem / S3, compression) and
# study archive throughput. One experiment per call, one server configuration at a time:
#
#   bench/extra.sh scale      # 1, 2, 3 Stowage processes on one PostgreSQL index (+ Orthanc PG)
#   bench/extra.sh find-large # load LARGE_N (100000) small instances, then /tools/find
#   bench/extra.sh storage    # filesystem vs S3 (Garage), compression off/on; archive MB/s
#
# Knobs: STOWAGE_BIN (/tmp/target-bench/release/stowage), BENCH
# (/tmp/target-bench/release/stowage-bench), OUT (/tmp/stowage-extra-DATE), PG
# (postgresql://postgres@127.0.0.1:5432), SCALE_N (2000), SCALE_C (4), LARGE_N (100000),
# SCALE_ONLY_PROCS (set: skip controls/references), LARGE_CHUNK (20000), LARGE_INDEX (postgres|sqlite|orthanc|orthanc-postgres), LARGE_DEADLINE (epoch seconds: stop
# loading after the chunk that passes it), LARGE_RUN (run id: the same data for every server), STORE_N (1000), ARCHIVE_N (500).
set -euo pipefail

STOWAGE_BIN=${STOWAGE_BIN:-/tmp/target-bench/release/stowage}
BENCH=${BENCH:-/tmp/target-bench/release/stowage-bench}
ORTHANC_BIN=${ORTHANC_BIN:-/usr/sbin/Orthanc}
PG=${PG:-postgresql://postgres@127.0.0.1:5432}
OUT=${OUT:-/tmp/stowage-extra-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
log() { echo "== $(date +%T) $*" | tee -a "$OUT/run.log" >&2; }
PIDS=()

free_port() {
  local p=$1
  while (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

db_create() { psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }
db_drop() { psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" || true; }

# start_server NAME BIN DIR KEY=VALUE... : writes NAME.json from BIN's defaults, starts it
# in DIR, waits for /system; sets URL and appends the pid to PIDS.
start_server() {
  local name=$1 bin=$2 dir=$3; shift 3
  local http dicom cfg0="$OUT/$(basename "$bin").default.json"
  http=$(free_port 19042); dicom=$(free_port $((http + 1000)))
  [[ -f $cfg0 ]] || (cd "$dir" && "$bin" --config="$cfg0")
  "$BENCH" config "$cfg0" "$OUT/$name.json" HttpPort="$http" DicomPort="$dicom" \
    RemoteAccessAllowed=true AuthenticationEnabled=false "$@"
  (cd "$dir" && exec "$bin" "$OUT/$name.json") >"$OUT/$name.server.log" 2>&1 &
  PIDS+=($!)
  URL=http://127.0.0.1:$http
  for _ in $(seq 1 150); do
    curl -sf "$URL/system" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  log "$name did not start (see $OUT/$name.server.log)"
  return 1
}

stop_servers() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap stop_servers EXIT

bench() { # LOGNAME ARGS... (one JSON line per command goes to LOGNAME.log)
  local f=$1; shift
  echo "\$ stowage-bench $*   # load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/$f.log"
  "$BENCH" "$@" | tee -a "$OUT/$f.log"
}

stats() { curl -s "$1/statistics" | tr -d ' \n'; echo; }

pg_section() { # DB
  echo "{\"EnableIndex\":true,\"ConnectionUri\":\"$PG/$1\",\"Lock\":false}"
}

# --- 1. PostgreSQL multi-writer scaling ---------------------------------------------------
exp_scale() {
  local n=${SCALE_N:-2000} c=${SCALE_C:-4} run=$(date +%s%3N) k i urls pids dir
  for k in 1 2 3; do
    db_create bench_scale
    dir=$(mktemp -d /tmp/bench-scale.XXXX); mkdir -p "$dir/storage"
    urls=(); pids=()
    for i in $(seq 1 "$k"); do
      mkdir -p "$dir/p$i"
      start_server "scale$k-p$i" "$STOWAGE_BIN" "$dir/p$i" StorageDirectory="$dir/storage" \
        IndexDirectory="$dir/p$i" PostgreSQL="$(pg_section bench_scale)"
      urls+=("$URL"); pids+=("${PIDS[-1]}")
    done
    log "scale: $k process(es) on one PostgreSQL index, $n instances, c=$c per process"
    bench scale ingest --url "$(IFS=,; echo "${urls[*]}")" --instances "$n" --concurrency "$c" \
      --run-id $((run + k)) --label "stowage-pg" --server-pid "$(IFS=,; echo "${pids[*]}")" \
      --db-comm postgres --name "PG ingest, $k process(es) x c=$c"
    echo "$k processes: $(stats "${urls[0]}")" | tee -a "$OUT/scale.log"
    stop_servers; db_drop bench_scale; rm -rf "$dir"
  done
  [[ -n ${SCALE_ONLY_PROCS:-} ]] && return 0 # skip the controls and references
  # Controls: one process with the same total concurrency (more clients, not more processes).
  for c2 in $((2 * c)) $((3 * c)); do
    db_create bench_scale
    dir=$(mktemp -d /tmp/bench-scale.XXXX)
    start_server "scale1-c$c2" "$STOWAGE_BIN" "$dir" StorageDirectory="$dir/storage" \
      IndexDirectory="$dir" PostgreSQL="$(pg_section bench_scale)"
    log "scale control: 1 process, c=$c2"
    bench scale ingest --url "$URL" --instances "$n" --concurrency "$c2" --run-id $((run + 10 + c2)) \
      --label stowage-pg --server-pid "${PIDS[-1]}" --db-comm postgres --name "PG ingest, 1 process x c=$c2"
    stop_servers; db_drop bench_scale; rm -rf "$dir"
  done
  # References: Orthanc 1.10.1 + Debian's PostgreSQL plugin; Stowage on SQLite.
  if [[ -f /usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so ]]; then
    db_create bench_scale
    dir=$(mktemp -d /tmp/bench-scale.XXXX)
    start_server "orthanc-pg" "$ORTHANC_BIN" "$dir" StorageDirectory="$dir/storage" \
      IndexDirectory="$dir" Plugins='["/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so"]' \
      PostgreSQL="{\"EnableIndex\":true,\"EnableStorage\":false,\"Host\":\"127.0.0.1\",\"Port\":5432,\"Database\":\"bench_scale\",\"Username\":\"postgres\",\"Password\":\"\",\"Lock\":false}"
    log "scale reference: Orthanc + PostgreSQL plugin, c=$c"
    bench scale ingest --url "$URL" --instances "$n" --concurrency "$c" --run-id $((run + 20)) \
      --label orthanc-pg --server-pid "${PIDS[-1]}" --db-comm postgres --name "PG ingest, 1 process x c=$c"
    stop_servers; db_drop bench_scale; rm -rf "$dir"
  fi
  dir=$(mktemp -d /tmp/bench-scale.XXXX)
  start_server "scale-sqlite" "$STOWAGE_BIN" "$dir" StorageDirectory="$dir/storage" IndexDirectory="$dir"
  log "scale reference: Stowage on SQLite, c=$c"
  bench scale ingest --url "$URL" --instances "$n" --concurrency "$c" --run-id $((run + 30)) \
    --label stowage-sqlite --server-pid "${PIDS[-1]}" --name "SQLite ingest, 1 process x c=$c"
  stop_servers; rm -rf "$dir"
}

# --- 2. /tools/find on a large index ----------------------------------------------------
exp_find_large() {
  local total=${LARGE_N:-100000} chunk=${LARGE_CHUNK:-20000} index=${LARGE_INDEX:-postgres}
  local run=${LARGE_RUN:-$(date +%s%3N)} loaded=0 dir extra=()
  dir=$(mktemp -d /tmp/bench-large.XXXX)
  local bin=$STOWAGE_BIN label="stowage-$index"
  local kinds="PatientID,PatientName,StudyDate,Series Modality,Labels Any"
  if [[ $index == postgres ]]; then
    db_create bench_large
    extra=(PostgreSQL="$(pg_section bench_large)")
  elif [[ $index == orthanc ]]; then
    # Orthanc 1.10.1 on its default SQLite index, for the side-by-side (it has no labels).
    bin=$ORTHANC_BIN label=orthanc kinds="PatientID,PatientName,StudyDate,Series Modality"
  elif [[ $index == orthanc-postgres ]]; then
    # Orthanc 1.10.1 with Debian's PostgreSQL index plugin.
    db_create bench_large
    bin=$ORTHANC_BIN label=orthanc-pg kinds="PatientID,PatientName,StudyDate,Series Modality"
    extra=(PostgreSQL="$(pg_section bench_large)"
      Plugins='["/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so"]')
  fi
  start_server "large-$index" "$bin" "$dir" StorageDirectory="$dir/storage" \
    IndexDirectory="$dir" "${extra[@]}"
  local pid=${PIDS[-1]} f="large-$index"
  while ((loaded < total)); do
    local now=$((total - loaded < chunk ? total - loaded : chunk))
    log "find-large ($index): loading $now more (at $loaded)"
    bench "$f" ingest --url "$URL" --instances "$now" --concurrency 8 --size-kb 8 \
      --instances-per-series 20 --run-id $((run + loaded)) --label "$label" \
      --server-pid "$pid" --db-comm postgres --name "load $((loaded + now)) (8 KiB, c=8)"
    loaded=$((loaded + now))
    if [[ -n ${LARGE_DEADLINE:-} && $(date +%s) -ge $LARGE_DEADLINE ]]; then
      log "find-large: deadline reached at $loaded instances"; break
    fi
  done
  echo "loaded: $(stats "$URL")" | tee -a "$OUT/$f.log"
  # Optional: wait (until epoch FIND_WAIT_UNTIL at most) while file FIND_WAIT_FILE's last
  # line does not start with "exit" (another job sharing the machine).
  while [[ -n ${FIND_WAIT_FILE:-} && $(date +%s) -lt ${FIND_WAIT_UNTIL:-0} ]] &&
    ! tail -1 "$FIND_WAIT_FILE" | grep -q '^exit'; do sleep 5; done
  log "find-large ($index): find at $loaded instances"
  bench "$f" find --url "$URL" --requests "${FIND_N:-100}" --warmup 3 --label "$label" \
    --server-pid "$pid" --db-comm postgres --kinds "$kinds" \
    --name "find @$loaded"
  bench "$f" find --url "$URL" --requests "${FIND_SLOW_N:-10}" --warmup 1 --label "$label" \
    --server-pid "$pid" --db-comm postgres --kinds "ModalitiesInStudy" --name "find @$loaded"
  stop_servers
  [[ $index == *postgres ]] && db_drop bench_large
  rm -rf "$dir"
}

# --- 3 and 4. storage areas, compression, archive ---------------------------------------
archive_mbs() { # URL LOGNAME RUNID: GET the archive of run RUNID's first study 3 times
  local url=$1 f=$2 id size t
  id=$(curl -s -X POST "$url/tools/lookup" -d "1.2.826.0.1.3680043.8.498.$3.1.1.1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ID"])')
  for _ in 1 2 3; do
    read -r size t < <(curl -s -o /dev/null -w '%{size_download} %{time_total}\n' "$url/studies/$id/archive")
    echo "archive $id: $size bytes in ${t}s => $(python3 -c "print(round($size/$t/1e6,1))") MB/s" | tee -a "$OUT/$f.log"
  done
}

exp_storage() {
  local n=${STORE_N:-1000} an=${ARCHIVE_N:-500} run=$(date +%s%3N) area comp dir extra f k=0
  for area in fs s3; do
    if [[ $area == s3 ]]; then
      eval "$(cd "$(dirname "$0")/.." && scripts/garage.sh)"
      GARAGE_PID=$STOWAGE_TEST_GARAGE_PID
    fi
    for comp in false true; do
      k=$((k + 1)); f="storage-$area-comp-$comp"
      dir=$(mktemp -d /tmp/bench-store.XXXX)
      extra=()
      [[ $area == s3 ]] && extra=(AwsS3Storage="{\"BucketName\":\"$STOWAGE_TEST_S3_BUCKET\",\"Region\":\"$STOWAGE_TEST_S3_REGION\",\"AccessKey\":\"$STOWAGE_TEST_S3_ACCESS_KEY\",\"SecretKey\":\"$STOWAGE_TEST_S3_SECRET_KEY\",\"Endpoint\":\"$STOWAGE_TEST_S3_ENDPOINT\",\"VirtualAddressing\":false,\"RootPath\":\"bench-$run-$k\"}")
      start_server "$f" "$STOWAGE_BIN" "$dir" StorageDirectory="$dir/storage" IndexDirectory="$dir" \
        StorageCompression="$comp" "${extra[@]}"
      local pid=${PIDS[-1]}
      log "storage: $area, compression $comp"
      bench "$f" ingest --url "$URL" --instances "$n" --concurrency 4 --pixels phantom \
        --run-id $((run + k * 10)) --label "$area comp=$comp" --server-pid "$pid" --name "ingest c=4"
      bench "$f" read --url "$URL" --requests $((2 * n)) --concurrency 4 --kinds file \
        --label "$area comp=$comp" --server-pid "$pid" --name "download c=4"
      bench "$f" ingest --url "$URL" --instances "$an" --concurrency 4 --pixels phantom \
        --studies-per-patient 1 --series-per-study 2 --instances-per-series $((an / 2)) \
        --run-id $((run + k * 10 + 1)) --label "$area comp=$comp" --server-pid "$pid" --name "archive study load"
      archive_mbs "$URL" "$f" $((run + k * 10 + 1))
      echo "statistics: $(stats "$URL")" | tee -a "$OUT/$f.log"
      [[ $area == fs ]] && echo "du: $(du -sb "$dir/storage" | cut -f1) bytes" | tee -a "$OUT/$f.log"
      stop_servers; rm -rf "$dir"
    done
    if [[ $area == s3 ]]; then kill "$GARAGE_PID" 2>/dev/null || true; fi
  done
}

case ${1:-} in
  scale) exp_scale ;;
  find-large) exp_find_large ;;
  storage) exp_storage ;;
  *) echo "usage: $0 scale|find-large|storage" >&2; exit 2 ;;
esac
log "results in $OUT"
