#!/usr/bin/env bash
# A three-node Herald cluster on loopback, for trying it by hand: Redis and
# PostgreSQL from Debian's packages (through scripts/redis.sh and
# scripts/postgres.sh), three `herald serve` processes with
# config/cluster/node{1,2,3}.toml, and nginx as the load balancer with
# deploy/nginx.conf rewritten for loopback (when nginx is installed or
# `apt-get install nginx` works; NGINX=0 skips it).
#
#   scripts/cluster-local.sh start    builds Herald (release), starts it all, prints the URLs
#   scripts/cluster-local.sh status   what runs, and each node's /readyz
#   scripts/cluster-local.sh stop     stops it all and removes the state directory
#
# Addresses: through nginx ws://127.0.0.1:15674/ws and http://127.0.0.1:15674/
# (the web client, /api); node N directly at http 127.0.0.1:1570N and STOMP
# over TCP 127.0.0.1:6170N; Redis on 127.0.0.1:16379; PostgreSQL on a free
# port (see `status`). Logs: $HERALD_CLUSTER_DIR/node{1,2,3}.log and nginx.log.
#
# Environment: HERALD_CLUSTER_DIR (state, default /tmp/herald-cluster, which
# the node configs name too), LB_PORT (15674), REDIS_PORT (16379), HERALD_BIN
# (a herald binary to run instead of building target/release/herald),
# NGINX=0. Try a node's death with `kill -9` on the pid `status` prints: its
# clients reconnect through nginx to another node.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

dir=${HERALD_CLUSTER_DIR:-/tmp/herald-cluster}
lb_port=${LB_PORT:-15674}
redis_port=${REDIS_PORT:-16379}
nginx_wanted=${NGINX:-1}
nodes=(1 2 3)

log() { printf '[cluster-local] %s\n' "$*" >&2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# A node's port from its config: node_port N http_listen|stomp_listen.
node_port() { sed -n "s/^${2:-http_listen} = \"127.0.0.1:\([0-9]*\)\"/\1/p" "$ROOT/config/cluster/node$1.toml"; }

redis_env() { echo "HERALD_REDIS_DIR=$dir/redis HERALD_REDIS_PORT=$redis_port"; }

postgres_url() { HERALD_PG_DIR="$dir/postgres" scripts/postgres.sh url 2>/dev/null; }

binary() {
    if [ -n "${HERALD_BIN:-}" ]; then
        echo "$HERALD_BIN"
        return
    fi
    log "building Herald (cargo build --release)"
    cargo build --release --bin herald >&2
    echo "$ROOT/target/release/herald"
}

# nginx from Debian, installed on first use when we may.
have_nginx() {
    [ "$nginx_wanted" != 0 ] || return 1
    command -v nginx >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing Debian's nginx"
        if DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >&2 ||
            { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >&2; }; then
            return 0
        fi
    fi
    log "nginx is not available: no load balancer (connect to the nodes directly)"
    return 1
}

start_node() {
    local n=$1 bin=$2 pg=$3 redis=$4
    mkdir -p "$dir/node$n"
    # The node configs name /tmp/herald-cluster; the environment points
    # them at this run's directories and servers.
    HERALD_SERVER__DATA_DIR="$dir/node$n" \
        HERALD_FILES__DIR="$dir/files" \
        HERALD_STORE__POSTGRES_URL="$pg" \
        HERALD_CLUSTER__REDIS_URL="$redis" \
        setsid "$bin" serve --config "$ROOT/config/cluster/node$n.toml" \
        >"$dir/node$n.out" 2>"$dir/node$n.log" </dev/null &
    echo $! >"$dir/node$n.pid"
}

wait_node() {
    local n=$1
    for _ in $(seq 1 150); do
        grep -q '^listening' "$dir/node$n.out" 2>/dev/null && return 0
        alive "$dir/node$n.pid" || break
        sleep 0.1
    done
    log "node $n did not start; its log:"
    cat "$dir/node$n.log" >&2
    exit 1
}

start_nginx() {
    mkdir -p "$dir/nginx"
    local conf=$dir/nginx/nginx.conf
    sed -e "s|^\( *\)server herald1:15674\(.*\)|\1server 127.0.0.1:$(node_port 1)\2|" \
        -e "s|^\( *\)server herald2:15674\(.*\)|\1server 127.0.0.1:$(node_port 2)\2|" \
        -e "s|^\( *\)server herald3:15674\(.*\)|\1server 127.0.0.1:$(node_port 3)\2|" \
        -e "s|^\( *\)listen 80;|\1listen 127.0.0.1:$lb_port;|" \
        "$ROOT/deploy/nginx.conf" >"$conf"
    if grep -q 'herald[123]:15674\|listen 80;' "$conf"; then
        log "deploy/nginx.conf no longer has the lines this script rewrites"
        exit 1
    fi
    nginx -t -q -p "$dir/nginx/" -c "$conf" 2>>"$dir/nginx.log" || {
        cat "$dir/nginx.log" >&2
        exit 1
    }
    nginx -p "$dir/nginx/" -c "$conf" 2>>"$dir/nginx.log"
    for _ in $(seq 1 50); do
        [ -f "$dir/nginx/nginx.pid" ] && return 0
        sleep 0.1
    done
    log "nginx did not start; see $dir/nginx.log"
    exit 1
}

port_is_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Every fixed port must be free: a node could not listen, and redis.sh would
# take another Redis on its port for ours.
check_ports() {
    local port n busy=()
    for n in "${nodes[@]}"; do
        for port in "$(node_port "$n")" "$(node_port "$n" stomp_listen)"; do
            port_is_free "$port" || busy+=("$port (node $n)")
        done
    done
    port_is_free "$redis_port" || busy+=("$redis_port (Redis)")
    if [ "$nginx_wanted" != 0 ]; then
        port_is_free "$lb_port" || busy+=("$lb_port (nginx)")
    fi
    if [ ${#busy[@]} -gt 0 ]; then
        log "ports in use: ${busy[*]}; is another cluster running (HERALD_CLUSTER_DIR)?"
        exit 1
    fi
}

start() {
    if alive "$dir/node1.pid"; then
        log "already running"
        status
        return
    fi
    check_ports
    local bin pg redis
    bin=$(binary)
    mkdir -p "$dir" "$dir/files"
    redis=$(env $(redis_env) scripts/redis.sh start)
    pg=$(HERALD_PG_DIR="$dir/postgres" scripts/postgres.sh start)
    log "redis $redis, postgres $pg"
    # Node 1 first: it creates the schema; the others find it done.
    start_node 1 "$bin" "$pg" "$redis"
    wait_node 1
    for n in 2 3; do start_node "$n" "$bin" "$pg" "$redis"; done
    for n in 2 3; do wait_node "$n"; done
    if have_nginx; then
        start_nginx
    fi
    status
}

status() {
    local n port state
    if [ ! -d "$dir" ]; then
        echo "not running (no $dir)"
        return
    fi
    for n in "${nodes[@]}"; do
        port=$(node_port "$n")
        if alive "$dir/node$n.pid"; then
            state=$(curl -s -m 2 "http://127.0.0.1:$port/readyz" | tr -d '\n' || true)
            echo "node $n  pid $(cat "$dir/node$n.pid")  http://127.0.0.1:$port  stomp 127.0.0.1:$(node_port "$n" stomp_listen)  readyz: ${state:-no answer}"
        else
            echo "node $n  stopped"
        fi
    done
    if alive "$dir/nginx/nginx.pid"; then
        echo "nginx   pid $(cat "$dir/nginx/nginx.pid")  ws://127.0.0.1:$lb_port/ws  http://127.0.0.1:$lb_port/"
    else
        echo "nginx   not running"
    fi
    if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
        echo "redis   redis://127.0.0.1:$redis_port"
    else
        echo "redis   not running"
    fi
    echo "postgres $(postgres_url || echo 'not running')"
}

stop() {
    local n pid
    if alive "$dir/nginx/nginx.pid"; then
        kill -QUIT "$(cat "$dir/nginx/nginx.pid")" 2>/dev/null || true
    fi
    for n in "${nodes[@]}"; do
        if alive "$dir/node$n.pid"; then
            kill -TERM "$(cat "$dir/node$n.pid")" 2>/dev/null || true
        fi
    done
    for n in "${nodes[@]}"; do
        for _ in $(seq 1 100); do
            alive "$dir/node$n.pid" || break
            sleep 0.1
        done
        if alive "$dir/node$n.pid"; then
            pid=$(cat "$dir/node$n.pid")
            log "node $n did not stop in 10 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    env $(redis_env) scripts/redis.sh stop
    HERALD_PG_DIR="$dir/postgres" scripts/postgres.sh stop
    rm -rf "$dir"
    log "stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: $0 start|status|stop   (state in \$HERALD_CLUSTER_DIR, default $dir)" >&2
    exit 2
    ;;
esac
