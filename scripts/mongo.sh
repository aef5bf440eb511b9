#!/usr/bin/env bash
# A throwaway MongoDB-wire-compatible server on loopback for Herald's tests.
#
#   scripts/mongo.sh start   installs nx-27017 (PyPI) into a virtualenv if needed,
#                            starts it in memory on a free port with its files in
#                            $HERALD_MONGO_DIR (default /tmp/herald-mongo) and
#                            prints its URL (mongodb://127.0.0.1:PORT)
#   scripts/mongo.sh url     prints the running server's URL
#   scripts/mongo.sh stop    stops that server and removes its directory
#
# No MongoDB server is packaged for Debian; nx-27017 speaks MongoDB's wire
# protocol over SQLite, which is enough for the storage contract tests. It
# is for tests only: production uses a real MongoDB, and no performance
# figure is ever taken from it. The virtualenv lives in $HERALD_MONGO_VENV
# (default /tmp/herald-mongo-venv), outside the work tree, and is reused.
set -euo pipefail

dir="${HERALD_MONGO_DIR:-/tmp/herald-mongo}"
venv="${HERALD_MONGO_VENV:-/tmp/herald-mongo-venv}"
package="nx-27017==0.8.1"

install_if_missing() {
    [ -x "$venv/bin/nx-27017" ] && return
    mkdir -p "$(dirname "$venv")"
    # One installer at a time: test binaries may start servers together.
    exec 9>"$venv.lock"
    flock 9
    if [ ! -x "$venv/bin/nx-27017" ]; then
        if ! python3 -m venv "$venv" >&2 2>/dev/null; then
            echo "mongo.sh: installing Debian's python3-venv" >&2
            apt-get update >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >&2
            rm -rf "$venv"
            python3 -m venv "$venv" >&2
        fi
        echo "mongo.sh: installing $package into $venv" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$package" >&2
    fi
    flock -u 9
    exec 9>&-
}

running() {
    [ -f "$dir/pid" ] && [ -f "$dir/port" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null
}

url() {
    echo "mongodb://127.0.0.1:$(cat "$dir/port")"
}

port_is_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Waits until the server with pid $1 accepts connections on port $2.
wait_until_up() {
    local attempt
    for attempt in $(seq 1 150); do
        kill -0 "$1" 2>/dev/null || return 1
        port_is_free "$2" || return 0
        sleep 0.2
    done
    return 1
}

start() {
    if running; then
        url
        return
    fi
    install_if_missing
    rm -rf "$dir"
    mkdir -p "$dir"
    local attempt port pid
    for attempt in 1 2 3 4 5 6 7 8; do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        port_is_free "$port" || continue
        # Detached from our output, so a caller reading it sees its end.
        nohup "$venv/bin/nx-27017" --db memory --host 127.0.0.1 -p "$port" \
            --log-file "$dir/server.log" --pid-file "$dir/nx.pid" \
            </dev/null >"$dir/output.log" 2>&1 &
        pid=$!
        echo "$pid" >"$dir/pid"
        if wait_until_up "$pid" "$port"; then
            echo "$port" >"$dir/port"
            url
            return
        fi
        kill "$pid" 2>/dev/null || true
    done
    echo "mongo.sh: the server did not start; its output:" >&2
    cat "$dir/output.log" "$dir/server.log" >&2 2>/dev/null || true
    exit 1
}

stop() {
    if [ -f "$dir/pid" ]; then
        local pid attempt
        pid="$(cat "$dir/pid")"
        kill "$pid" 2>/dev/null || true
        for attempt in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
url)
    running || {
        echo "mongo.sh: no server is running in $dir" >&2
        exit 1
    }
    url
    ;;
*)
    echo "usage: $0 start|stop|url   (server directory: \$HERALD_MONGO_DIR, default $dir)" >&2
    exit 2
    ;;
esac
