#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers for the tests. With STOWAGE_TEST_POSTGRES_URL set,
# that server is used as is. Otherwise the local server on 127.0.0.1:5432 is started (or, on a
# machine without one, installed from Debian's packages) with trust authentication on loopback.
# Each test creates and drops its own databases, so runs never collide.
set -euo pipefail

if [ -n "${STOWAGE_TEST_POSTGRES_URL:-}" ]; then
  exit 0
fi

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

start_local_cluster() {
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || return 1
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
}

if ! ready; then
  start_local_cluster || true
fi
if ! ready && ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "== installing PostgreSQL (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Loopback clients are trusted: the tests connect as "postgres" without a password.
  sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  start_local_cluster
fi
for _ in $(seq 1 30); do
  ready && exit 0
  sleep 1
done
echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2
exit 1
