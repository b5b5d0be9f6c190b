#!/usr/bin/env bash
# Starts a throw-away single-node Garage (an S3-compatible object store) on free loopback
# ports, for the tests of the S3 storage area (backends/storage/s3), and prints `export` lines:
#
#     eval "$(scripts/garage.sh)"
#     CARGO_TARGET_DIR=/tmp/target-s3 cargo test -p stowage-storage-s3
#     kill "$STOWAGE_TEST_GARAGE_PID"      # stops Garage; its folder is removed
#
# Options:
#     --watch-pid PID   stop Garage (and remove its folder) once process PID has exited: the
#                       S3 tests pass their own pid when they start Garage themselves.
#
# Garage is installed with `cargo install garage --locked` when `garage` is not found (this
# takes several minutes). Only stdout carries the export lines; progress goes to stderr.
# Garage's log is $STOWAGE_TEST_GARAGE_DIR/garage.log.

set -euo pipefail

watch_pid=""
while [ $# -gt 0 ]; do
    case "$1" in
        --watch-pid) watch_pid="$2"; shift 2 ;;
        *) echo "garage.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { echo "garage.sh: $*" >&2; }

# (a) Install Garage if needed.
if ! command -v garage >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/garage" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        log "garage not found: cargo install garage --locked (several minutes)"
        cargo install garage --locked >&2
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi
GARAGE="$(command -v garage)"

# (b) A free loopback port: nothing listens there (a small race remains; Garage failing to
# bind is detected below and the whole start is retried).
free_port() {
    local p
    while :; do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

dir="$(mktemp -d "${TMPDIR:-/tmp}/stowage-garage.XXXXXX")"
conf="$dir/garage.toml"
g() { "$GARAGE" -c "$conf" "$@"; }

start_server() {
    rpc_port="$(free_port)"
    s3_port="$(free_port)"
    while [ "$s3_port" = "$rpc_port" ]; do s3_port="$(free_port)"; done
    secret="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
    cat >"$conf" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
metadata_fsync = false
data_fsync = false

rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$secret"

[s3_api]
api_bind_addr = "127.0.0.1:$s3_port"
s3_region = "garage"
root_domain = ".s3.garage.localhost"
EOF
    # Garage must not hold our stdout: `$(scripts/garage.sh)` waits for it to close.
    # Not through `g`: $! must be Garage's own pid, not a subshell's.
    "$GARAGE" -c "$conf" server >"$dir/garage.log" 2>&1 </dev/null &
    garage_pid=$!
    for _ in $(seq 1 100); do
        if ! kill -0 "$garage_pid" 2>/dev/null; then
            return 1
        fi
        if g status >/dev/null 2>&1 && (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    kill "$garage_pid" 2>/dev/null || true
    return 1
}

started=""
for attempt in 1 2 3; do
    if start_server; then
        started=1
        break
    fi
    log "Garage did not start (attempt $attempt), log:"
    tail -n 20 "$dir/garage.log" >&2 || true
    rm -rf "$dir/meta" "$dir/data"
done
if [ -z "$started" ]; then
    rm -rf "$dir"
    exit 1
fi

fail() {
    log "$*"
    tail -n 20 "$dir/garage.log" >&2 || true
    kill "$garage_pid" 2>/dev/null || true
    rm -rf "$dir"
    exit 1
}

node_id="$(g node id -q 2>/dev/null | cut -d@ -f1)"
[ -n "$node_id" ] || fail "cannot read the node id"
g layout assign -z dc1 -c 1G "$node_id" >&2 || fail "garage layout assign failed"
g layout apply --version 1 >&2 || fail "garage layout apply failed"
bucket="stowage-test"
# The layout takes a moment to be in force: retry the bucket creation.
for _ in $(seq 1 50); do
    if g bucket create "$bucket" >/dev/null 2>&1; then break; fi
    sleep 0.2
done
g bucket info "$bucket" >/dev/null 2>&1 || fail "garage bucket create failed"
key_out="$(g key create stowage-test-key 2>&1)" || fail "garage key create failed: $key_out"
key_id="$(printf '%s\n' "$key_out" | sed -n 's/^[[:space:]]*Key ID:[[:space:]]*\([^[:space:]]*\).*/\1/p' | head -n1)"
secret_key="$(printf '%s\n' "$key_out" | sed -n 's/^[[:space:]]*Secret key:[[:space:]]*\([^[:space:]]*\).*/\1/p' | head -n1)"
if [ -z "$secret_key" ] || [ "$secret_key" = "(redacted)" ]; then
    key_out="$(g key info --show-secret stowage-test-key 2>&1)" || fail "garage key info failed"
    secret_key="$(printf '%s\n' "$key_out" | sed -n 's/^[[:space:]]*Secret key:[[:space:]]*\([^[:space:]]*\).*/\1/p' | head -n1)"
fi
[ -n "$key_id" ] && [ -n "$secret_key" ] || fail "cannot parse the key: $key_out"
g bucket allow --read --write --owner "$bucket" --key stowage-test-key >&2 \
    || fail "garage bucket allow failed"

# Once Garage stops (killed by the caller, or by the watcher below), remove its folder; with
# --watch-pid, stop Garage when that process has exited.
(
    trap '' HUP INT
    if [ -n "$watch_pid" ]; then
        while kill -0 "$watch_pid" 2>/dev/null && kill -0 "$garage_pid" 2>/dev/null; do
            sleep 1
        done
        kill "$garage_pid" 2>/dev/null || true
    fi
    while kill -0 "$garage_pid" 2>/dev/null; do sleep 1; done
    rm -rf "$dir"
) >/dev/null 2>&1 </dev/null &

log "Garage $("$GARAGE" --version 2>/dev/null | head -n1) pid $garage_pid, S3 on 127.0.0.1:$s3_port, folder $dir"
cat <<EOF
export STOWAGE_TEST_S3_ENDPOINT='http://127.0.0.1:$s3_port'
export STOWAGE_TEST_S3_ACCESS_KEY='$key_id'
export STOWAGE_TEST_S3_SECRET_KEY='$secret_key'
export STOWAGE_TEST_S3_BUCKET='$bucket'
export STOWAGE_TEST_S3_REGION='garage'
export STOWAGE_TEST_GARAGE_PID='$garage_pid'
export STOWAGE_TEST_GARAGE_DIR='$dir'
EOF
