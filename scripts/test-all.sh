#!/usr/bin/env bash
# The whole test suite:
#   1. every crate's tests: the conformance suites on SQLite, PostgreSQL, the filesystem, S3 and
#      the plugin-callback area; DICOM; the REST integration tests on SQLite + filesystem;
#   2. the REST integration tests again on the PostgreSQL index;
#   3. and again on S3 object storage.
# PostgreSQL is started (or installed) by scripts/ensure-postgres.sh; a throw-away single-node
# Garage (a real S3 server) is started on loopback by scripts/garage.sh and stopped at the end.
# The DICOM tests that read files written by dcmtk and gdcm need Debian's dcmtk and
# libgdcm-tools on PATH: they are installed here when missing (the tests fail without them).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-postgres.sh

if ! command -v dcmconv >/dev/null 2>&1 || ! command -v gdcmconv >/dev/null 2>&1; then
  echo "== installing dcmtk and gdcm tools (Debian packages)"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dcmtk libgdcm-tools >/dev/null
fi

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
