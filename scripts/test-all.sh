#!/usr/bin/env bash
# The whole test suite: every crate's tests (the conformance suites on SQLite, the filesystem
# and PostgreSQL; DICOM; the REST integration tests on SQLite), then the REST integration
# tests again with the PostgreSQL index.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-postgres.sh

echo "== cargo test --workspace"
cargo test --workspace

echo "== REST integration tests on the PostgreSQL index"
STOWAGE_TEST_INDEX=postgres cargo test -p stowage --test '*'
