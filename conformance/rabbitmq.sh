#!/usr/bin/env bash
# Starts or stops a throw-away RabbitMQ (Debian's 3.10 package) with STOMP and
# Web-STOMP on loopback, to run the conformance suite against it.
#
#   conformance/rabbitmq.sh start   # installs if missing, starts, waits, prints ports
#   conformance/rabbitmq.sh stop    # stops the broker this script started
#   conformance/rabbitmq.sh status
#
# Both commands are idempotent. State (config, mnesia, logs, pid, cookie) lives
# under $HERALD_RABBITMQ_DIR (default: $XDG_STATE_HOME/herald-rabbitmq, or
# ${TMPDIR:-/tmp}/herald-rabbitmq without XDG_STATE_HOME); it is wiped on start.
# Ports: STOMP_PORT (61613), WEB_STOMP_PORT (15674), AMQP_PORT (5672),
# DIST_PORT (25672, Erlang distribution).
set -euo pipefail

STOMP_PORT=${STOMP_PORT:-61613}
WEB_STOMP_PORT=${WEB_STOMP_PORT:-15674}
AMQP_PORT=${AMQP_PORT:-5672}
DIST_PORT=${DIST_PORT:-25672}
if [[ -n "${XDG_STATE_HOME:-}" ]]; then
    DEFAULT_DIR="$XDG_STATE_HOME/herald-rabbitmq"
else
    DEFAULT_DIR="${TMPDIR:-/tmp}/herald-rabbitmq"
fi
DIR=${HERALD_RABBITMQ_DIR:-$DEFAULT_DIR}
PIDFILE="$DIR/rabbitmq.pid"
SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server

running_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid=$(cat "$PIDFILE")
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

print_ports() {
    echo "rabbitmq stomp=tcp://127.0.0.1:$STOMP_PORT web-stomp=ws://127.0.0.1:$WEB_STOMP_PORT/ws login=guest passcode=guest host=/"
}

install_if_missing() {
    if [[ ! -x "$SERVER" ]]; then
        echo "installing rabbitmq-server from Debian..." >&2
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rabbitmq-server >&2
    fi
}

start() {
    if pid=$(running_pid); then
        echo "already running (pid $pid)" >&2
        print_ports
        return 0
    fi
    install_if_missing
    for port in "$STOMP_PORT" "$WEB_STOMP_PORT" "$AMQP_PORT"; do
        if port_open "$port"; then
            echo "port $port is already in use; set STOMP_PORT/WEB_STOMP_PORT/AMQP_PORT" >&2
            exit 1
        fi
    done
    rm -rf "$DIR"
    mkdir -p "$DIR/mnesia" "$DIR/log" "$DIR/home"
    # The Erlang VM starts an epmd daemon when none runs; remember whether
    # it is ours, so stop can end it too.
    if ! port_open 4369; then
        touch "$DIR/epmd.ours"
    fi
    cat >"$DIR/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
stomp.listeners.tcp.1 = 127.0.0.1:$STOMP_PORT
web_stomp.tcp.ip = 127.0.0.1
web_stomp.tcp.port = $WEB_STOMP_PORT
web_stomp.ws_frame = binary
loopback_users.guest = false
EOF
    echo '[rabbitmq_stomp,rabbitmq_web_stomp].' >"$DIR/enabled_plugins"
    (
        export RABBITMQ_CONFIG_FILE="$DIR/rabbitmq.conf"
        export RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins"
        export RABBITMQ_MNESIA_BASE="$DIR/mnesia"
        export RABBITMQ_LOG_BASE="$DIR/log"
        export RABBITMQ_NODENAME=herald-conformance@localhost
        export RABBITMQ_DIST_PORT="$DIST_PORT"
        export ERL_EPMD_ADDRESS=127.0.0.1
        export HOME="$DIR/home"
        export RUNNING_UNDER_SYSTEMD=1
        cd "$DIR"
        exec setsid "$SERVER" >"$DIR/log/stdout.log" 2>&1 </dev/null
    ) &
    echo $! >"$PIDFILE"
    local deadline=$((SECONDS + 90))
    until port_open "$STOMP_PORT" && port_open "$WEB_STOMP_PORT"; do
        if ! running_pid >/dev/null; then
            echo "rabbitmq exited during start-up; see $DIR/log" >&2
            tail -n 20 "$DIR/log/stdout.log" >&2 || true
            exit 1
        fi
        if ((SECONDS > deadline)); then
            echo "rabbitmq did not open its ports within 90 s; see $DIR/log" >&2
            exit 1
        fi
        sleep 1
    done
    echo "started (pid $(cat "$PIDFILE"), state in $DIR)" >&2
    print_ports
}

stop() {
    local pid
    if ! pid=$(running_pid); then
        echo "not running" >&2
        rm -f "$PIDFILE"
        return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "rabbitmq (pid $pid) ignored TERM; sending KILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    stop_epmd
    echo "stopped (pid $pid)" >&2
}

# Ends the epmd daemon this script's broker started, once no node uses it.
stop_epmd() {
    [[ -f "$DIR/epmd.ours" ]] || return 0
    rm -f "$DIR/epmd.ours"
    if command -v epmd >/dev/null && ! ERL_EPMD_ADDRESS=127.0.0.1 epmd -names 2>/dev/null | grep -q '^name '; then
        ERL_EPMD_ADDRESS=127.0.0.1 epmd -kill >/dev/null 2>&1 || true
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status)
    if pid=$(running_pid); then
        echo "running (pid $pid)"
        print_ports
    else
        echo "not running"
        exit 3
    fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
