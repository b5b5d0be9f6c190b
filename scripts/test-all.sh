#!/usr/bin/env bash
# The whole test suite:
#   1. every crate's tests: the conformance suites on SQLite, PostgreSQL, the filesystem, S3 and
#      the plugin-callback area; DICOM; the REST integration tests on SQLite + filesystem;
#   2. the REST integration tests again on the PostgreSQL index;
#   3. and again on S3 object storage.
# PostgreSQL is started (or installed) by scripts/ensure-postgres.sh; a throw-away single-node
# Garage (a real S3 server) is started on loopback by scripts/garage.sh and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-postgres.sh

if [ -z "${STOWAGE_TEST_S3_ENDPOINT:-}" ]; then
  echo "== starting a throw-away Garage (S3) server"
  eval "$(scripts/garage.sh)"
  trap 'kill "$STOWAGE_TEST_GARAGE_PID" 2>/dev/null || true' EXIT
fi

echo "== cargo test --workspace"
cargo test --workspace

echo "== REST integration tests on the PostgreSQL index"
STOWAGE_TEST_INDEX=postgres cargo test -p stowage --test '*'

echo "== REST integration tests on S3 storage"
STOWAGE_TEST_STORAGE=s3 cargo test -p stowage --test '*'
