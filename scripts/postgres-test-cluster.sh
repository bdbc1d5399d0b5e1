#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb in a temporary folder, served on a loopback port (and a unix
# socket in that folder) by a non-root user, trust authentication for loopback only. Prints the folder and the URL:
#   eval "$(scripts/postgres-test-cluster.sh start)"   → sets PG_TEST_DIR and MONTECLUSTER_TEST_DATABASE_URL
#   scripts/postgres-test-cluster.sh stop "$PG_TEST_DIR"   → stops it and removes the folder
# The binaries come from Debian's postgresql package (scripts/install-deps.sh installs it).
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
# initdb and postgres refuse to run as root: as root, run them as the postgres user.
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-}" in
  start)
    dir=$(mktemp -d /tmp/montecluster-pg-XXXXXX)
    chmod 755 "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    port=${2:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    # Loopback and the unix socket only; fsync off: a test cluster is thrown away. In its own configuration file, so
    # that a restart (pause/resume) comes back on the same port.
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nfsync = off\nmax_connections = 200\n" "$port" "$dir" \
      | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "export PG_TEST_DIR=$dir PG_TEST_PORT=$port"
    echo "export MONTECLUSTER_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    dir=${2:?usage: stop DIR}
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  pause|resume)
    # Stop and start the same cluster (the database-loss test).
    dir=${2:?usage: $1 DIR}
    if [ "$1" = pause ]; then as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    else as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null; fi
    ;;
  *) echo "usage: $0 start [PORT] | stop DIR | pause DIR | resume DIR" >&2; exit 2 ;;
esac
