#!/usr/bin/env bash
# A throwaway Redis on loopback for Herald's cluster tests and trials.
#
#   scripts/redis.sh start   installs Debian's redis-server if needed, starts
#                            one on a free port with its files in $HERALD_REDIS_DIR
#                            (default /tmp/herald-redis) and prints its URL
#   scripts/redis.sh url     prints the running server's URL
#   scripts/redis.sh stop    stops it and removes its directory
#
# Nothing is persisted (no RDB, no AOF): it carries the bus, presence and rate
# counters, which the cluster rebuilds by itself.
set -euo pipefail

dir="${HERALD_REDIS_DIR:-/tmp/herald-redis}"

install_if_missing() {
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "redis.sh: installing Debian's redis-server" >&2
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server >&2
    fi
}

running() {
    [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null
}

port_is_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    install_if_missing
    if running; then
        echo "redis://127.0.0.1:$(cat "$dir/port")"
        return
    fi
    mkdir -p "$dir"
    local port="${HERALD_REDIS_PORT:-}"
    if [ -z "$port" ]; then
        for _ in $(seq 1 50); do
            port=$((20000 + RANDOM % 20000))
            port_is_free "$port" && break
        done
    fi
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >&2
    echo "$port" >"$dir/port"
    for _ in $(seq 1 50); do
        if redis-cli -p "$port" ping >/dev/null 2>&1; then
            echo "redis://127.0.0.1:$port"
            return
        fi
        sleep 0.1
    done
    echo "redis.sh: redis did not start; see $dir/redis.log" >&2
    exit 1
}

stop() {
    if running; then
        kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
        for _ in $(seq 1 50); do running || break; sleep 0.1; done
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) running && echo "redis://127.0.0.1:$(cat "$dir/port")" ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
