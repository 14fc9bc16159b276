# shellcheck shell=bash
# A private PostgreSQL 15 server for one end-to-end test (issue #5, "the ledger on PostgreSQL"):
# its own data directory, port and socket directory under the test's $T, so that a test may stop
# and restart it (the ledger being down) without touching the host's shared cluster
# (pg_ctlcluster 15 main, which other tests use). Sourced after lib.sh; not a test itself.
#
#   pg_private_missing           print what is missing to run a server (nothing when all is there)
#   pg_private_start DIR PORT    initdb into DIR/data (as the postgres user), listen on
#                                127.0.0.1:PORT and a unix socket in DIR, create the database
#                                `jobcarbon`; returns when the server answers
#   pg_private_stop DIR          stop it (fast shutdown: sessions are ended) and wait until it is down
#   pg_private_restart DIR       stop it if it runs, start it again, wait until it answers
#   pg_private_url PORT          print the ledger URL: postgresql://postgres@127.0.0.1:PORT/jobcarbon
#
# Authentication is `trust` (initdb -A trust): the server listens on the loopback address only,
# its socket lives in DIR (mode 0700), and it lives for one test. The URL therefore carries no
# password; it names the superuser `postgres`, which `jobcarbon ledger init`/the first write use to
# create the schema and roles. Durability is off (fsync, synchronous_commit, full_page_writes):
# a test's ledger is thrown away, and a stop is a clean shutdown anyway.
# Everything is quiet except errors, which name the server's log (DIR/server.log, DIR/initdb.log).
# Needs root (initdb refuses root, so it runs under `runuser -u postgres --`) or the postgres user.
# PG_PRIVATE_BIN (default /usr/lib/postgresql/15/bin) names the server's binaries.
# Measured on the 2-core development VM: start about 1.0-1.4 s (initdb 0.9 s), stop and restart
# about 0.15 s each.

PG_PRIVATE_BIN=${PG_PRIVATE_BIN:-/usr/lib/postgresql/15/bin}

pg_private_missing() {
  local what=()
  if [[ ! -d $PG_PRIVATE_BIN ]]; then
    what+=("$PG_PRIVATE_BIN (Debian's postgresql-15; scripts/install-deps.sh --test installs it)")
  else
    local b
    for b in initdb pg_ctl postgres psql pg_isready; do
      [[ -x $PG_PRIVATE_BIN/$b ]] || what+=("$PG_PRIVATE_BIN/$b")
    done
  fi
  getent passwd postgres >/dev/null || what+=("the postgres user")
  if [[ $(id -un) != postgres ]]; then
    ((EUID == 0)) || what+=("root (to run the server as the postgres user)")
    command -v runuser >/dev/null || what+=("runuser")
  fi
  ((${#what[@]} == 0)) || echo "PostgreSQL 15 for a private server: missing ${what[*]}"
}

# _pg_as_postgres CMD...: run CMD as the postgres user.
_pg_as_postgres() {
  if [[ $(id -un) == postgres ]]; then "$@"; else runuser -u postgres -- "$@"; fi
}

# _pg_port DIR: the port the server of DIR was set up with.
_pg_port() {
  cat "$1/port"
}

# _pg_wait_ready DIR: wait (up to 20 s) until the server of DIR accepts connections on TCP.
_pg_wait_ready() {
  local port deadline=$((SECONDS + 20))
  port=$(_pg_port "$1")
  until "$PG_PRIVATE_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -U postgres; do
    if ((SECONDS >= deadline)); then
      echo "pg_private: the server in $1 does not answer on 127.0.0.1:$port within 20 s; $1/server.log:" >&2
      tail -n 20 "$1/server.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.05
  done
}

# _pg_ctl_start DIR: start the server of DIR (configured by pg_private_start) and wait for it.
_pg_ctl_start() {
  if ! _pg_as_postgres "$PG_PRIVATE_BIN/pg_ctl" start -D "$1/data" -l "$1/server.log" -w -t 20 -s >"$1/pg_ctl.out" 2>&1; then
    echo "pg_private: the server in $1 did not start:" >&2
    cat "$1/pg_ctl.out" >&2
    tail -n 20 "$1/server.log" >&2 2>/dev/null || true
    return 1
  fi
  _pg_wait_ready "$1"
}

pg_private_start() {
  local dir=${1:?usage: pg_private_start DIR PORT} port=${2:?usage: pg_private_start DIR PORT}
  local why
  why=$(pg_private_missing)
  if [[ -n $why ]]; then
    echo "pg_private: $why" >&2
    return 1
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # The socket's path must fit sockaddr_un (107 bytes): DIR/.s.PGSQL.PORT.
  if ((${#dir} + 18 > 107)); then
    echo "pg_private: $dir is too long for a unix socket path; use a shorter directory" >&2
    return 1
  fi
  if [[ -e $dir/data ]]; then
    echo "pg_private: $dir/data exists already (one server per directory)" >&2
    return 1
  fi
  chown postgres:postgres "$dir" 2>/dev/null || true
  chmod 0700 "$dir"
  if ! _pg_as_postgres test -w "$dir" -a -x "$dir"; then
    echo "pg_private: the postgres user cannot enter $dir: every directory above it must be searchable by others (chmod o+x)" >&2
    return 1
  fi
  echo "$port" >"$dir/port"
  # -N: no fsync during initdb (about half of its time on a slow disk).
  if ! _pg_as_postgres "$PG_PRIVATE_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 -N >"$dir/initdb.log" 2>&1; then
    echo "pg_private: initdb into $dir/data failed:" >&2
    cat "$dir/initdb.log" >&2
    return 1
  fi
  # In postgresql.conf (not on pg_ctl's command line), so that a restart gets the same settings.
  cat >>"$dir/data/postgresql.conf" <<EOF

# pg_private.sh: a throw-away server for one test
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
logging_collector = off
EOF
  _pg_ctl_start "$dir" || return 1
  if ! "$PG_PRIVATE_BIN/psql" -XAtq -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -v ON_ERROR_STOP=1 -c 'CREATE DATABASE jobcarbon' >"$dir/createdb.out" 2>&1; then
    echo "pg_private: cannot create the database jobcarbon on 127.0.0.1:$port:" >&2
    cat "$dir/createdb.out" >&2
    return 1
  fi
}

pg_private_stop() {
  local dir=${1:?usage: pg_private_stop DIR}
  [[ -f $dir/data/postmaster.pid ]] || return 0 # never started, or stopped already
  if ! _pg_as_postgres "$PG_PRIVATE_BIN/pg_ctl" stop -D "$dir/data" -m fast -w -t 20 -s >"$dir/pg_ctl.out" 2>&1; then
    echo "pg_private: the server in $dir did not stop:" >&2
    cat "$dir/pg_ctl.out" >&2
    return 1
  fi
}

pg_private_restart() {
  local dir=${1:?usage: pg_private_restart DIR}
  pg_private_stop "$dir" || return 1
  _pg_ctl_start "$dir"
}

pg_private_url() {
  printf 'postgresql://postgres@127.0.0.1:%s/jobcarbon' "${1:?usage: pg_private_url PORT}"
}
