#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for Herald's tests.
#
#   scripts/postgres.sh start   installs Debian's postgresql if needed, creates a
#                               cluster in $HERALD_PG_DIR (default
#                               /tmp/herald-postgres) on a free port, starts it
#                               and prints its URL
#   scripts/postgres.sh url     prints the running cluster's URL
#   scripts/postgres.sh stop    stops the cluster and removes its directory
#
# The cluster trusts every local connection (no password): it is for tests
# only, listens on 127.0.0.1 alone and keeps its data in the temp directory.
# As root, the server runs as the `postgres` user (it refuses to run as root).
set -euo pipefail

dir="${HERALD_PG_DIR:-/tmp/herald-postgres}"

binaries() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# Runs a command line as the cluster's owner.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/sh -c "$1"
    else
        sh -c "$1"
    fi
}

install_if_missing() {
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        echo "postgres.sh: installing Debian's postgresql" >&2
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
    fi
}

running() {
    [ -f "$dir/port" ] && as_owner "'$(binaries)/pg_ctl' -D '$dir/data' status" >/dev/null 2>&1
}

url() {
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
}

port_is_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    if running; then
        url
        return
    fi
    install_if_missing
    local bin
    bin="$(binaries)"
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$dir"
    fi
    # C locale with UTF-8: the same on every machine, and any text fits.
    as_owner "'$bin/initdb' -D '$dir/data' -A trust -U postgres -E UTF8 --locale=C --no-sync" \
        >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    local attempt port
    for attempt in 1 2 3 4 5 6 7 8; do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        port_is_free "$port" || continue
        if as_owner "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 \
            -o '-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200' start" \
            >/dev/null 2>&1; then
            echo "$port" >"$dir/port"
            url
            return
        fi
    done
    echo "postgres.sh: the server did not start; its log:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
}

stop() {
    if [ -d "$dir/data" ]; then
        as_owner "'$(binaries)/pg_ctl' -D '$dir/data' -m immediate stop" >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
url)
    running || {
        echo "postgres.sh: no cluster is running in $dir" >&2
        exit 1
    }
    url
    ;;
*)
    echo "usage: $0 start|stop|url   (cluster directory: \$HERALD_PG_DIR, default $dir)" >&2
    exit 2
    ;;
esac
