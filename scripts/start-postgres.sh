#!/usr/bin/env bash
# Starts Debian's PostgreSQL 15 cluster for the tests (idempotent): installs nothing
# (scripts/install-deps.sh --test does), starts the cluster only when `pg_lsclusters` says it is
# down, creates a LOGIN SUPERUSER role named after the invoking user when missing (root in CI), and
# waits until `psql -c 'select 1'` answers over the local socket. The PostgreSQL ledger tests then
# create and drop their own databases (jc_test_<pid>_<n>).
#
# Usage: scripts/start-postgres.sh     (as root, or as the postgres user)
set -euo pipefail

version=15
cluster=main
me=$(id -un)

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  echo "start-postgres.sh: pg_lsclusters not found: install PostgreSQL (scripts/install-deps.sh --test)" >&2
  exit 1
fi

# pg_lsclusters -h: "15 main 5432 online postgres /var/lib/... /var/log/..."
status=$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c { print $4 }')
if [[ -z "$status" ]]; then
  echo "start-postgres.sh: no PostgreSQL $version/$cluster cluster (pg_lsclusters lists none)" >&2
  exit 1
fi
if [[ "$status" != online* ]]; then
  echo "==> start-postgres: starting PostgreSQL $version/$cluster"
  pg_ctlcluster "$version" "$cluster" start
fi

# as_postgres CMD...: run CMD as the cluster's superuser (peer authentication on the socket).
as_postgres() {
  if [[ "$me" == postgres ]]; then
    "$@"
  elif ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    sudo -u postgres "$@"
  fi
}

# Wait for the server to accept connections (a fresh start takes a moment).
for _ in $(seq 1 100); do
  if as_postgres psql -XAtq -d postgres -c 'select 1' >/dev/null 2>&1; then break; fi
  sleep 0.1
done

if [[ "$me" != postgres ]]; then
  # psql interpolates :'who' only in input it reads, not in -c.
  exists=$(echo "select 1 from pg_roles where rolname = :'who'" |
    as_postgres psql -XAtq -d postgres -v who="$me" 2>/dev/null || true)
  if [[ "$exists" != 1 ]]; then
    echo "==> start-postgres: creating the LOGIN SUPERUSER role '$me'"
    echo 'create role :"who" login superuser' | as_postgres psql -XAtq -v ON_ERROR_STOP=1 -d postgres -v who="$me"
  fi
fi

for _ in $(seq 1 100); do
  if psql -XAtq -d postgres -c 'select 1' >/dev/null 2>&1; then
    echo "==> start-postgres: PostgreSQL $version/$cluster answers as '$me'"
    exit 0
  fi
  sleep 0.1
done
echo "start-postgres.sh: PostgreSQL $version/$cluster does not answer 'select 1' as '$me'" >&2
exit 1
