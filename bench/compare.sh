#!/usr/bin/env bash
# Herald and RabbitMQ Web-STOMP side by side on loopback, driven by the same
# `herald bench` scenarios, with a plain WebSocket echo server as the
# transport's ceiling; writes docs/benchmarks.md and its charts.
#
#   bench/compare.sh              # the full run (about 25 minutes)
#   QUICK=1 bench/compare.sh      # a short smoke run of every step
#
# Installs RabbitMQ from Debian when missing (through conformance/rabbitmq.sh,
# on its own ports here), builds Herald in release, and runs every case
# against each broker in turn (Herald, RabbitMQ, Herald, RabbitMQ ...) so
# that drift on a shared machine hits both. Memory per connection is always
# measured on a freshly started broker. Before each run it waits (up to
# IDLE_WAIT seconds) until no compiler runs and the load is low, and it
# records the load each run started under.
#
# bench/results/ holds the JSON reports behind the current docs/benchmarks.md
# (`herald bench render --results bench/results ...` redraws it).
#
# Environment: OUT (results, default target/bench-compare), DOC
# (docs/benchmarks.md), ROUNDS (2), DURATION (10s), WARMUP (3s), RATES
# (pairs steps), CONNECTIONS ("5000 19000"), HOLD (20s), IDLE_WAIT (180, per run),
# PROFILE (1: record a perf profile of Herald under pairs; 0: skip),
# SCENARIOS ("connections pairs fanout durable profile": which to run), KEEP=1 (add
# to the reports already in OUT instead of starting afresh, e.g. to run the
# rest after `SCENARIOS=connections`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

QUICK=${QUICK:-0}
OUT=${OUT:-$ROOT/target/bench-compare}
DOC=${DOC:-$ROOT/docs/benchmarks.md}
if [[ $QUICK == 1 ]]; then
    ROUNDS=${ROUNDS:-1} DURATION=${DURATION:-2s} WARMUP=${WARMUP:-1s} HOLD=${HOLD:-3s}
    RATES=${RATES:-"2000 10000"} CONNECTIONS=${CONNECTIONS:-"500"} FANOUT_RATES=${FANOUT_RATES:-"100"}
    IDLE_WAIT=${IDLE_WAIT:-0} PROFILE=${PROFILE:-0}
fi
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
HOLD=${HOLD:-20s}
RATES=${RATES:-"2000 5000 10000 20000 40000"}
FANOUT_RATES=${FANOUT_RATES:-"100 300"}
CONNECTIONS=${CONNECTIONS:-"5000 19000"}
IDLE_WAIT=${IDLE_WAIT:-180}
PROFILE=${PROFILE:-1}
SCENARIOS=${SCENARIOS:-connections pairs fanout durable profile}
KEEP=${KEEP:-0}

HERALD_WS_PORT=${HERALD_WS_PORT:-25674}
HERALD_STOMP_PORT=${HERALD_STOMP_PORT:-25613}
ECHO_PORT=${ECHO_PORT:-25675}
export STOMP_PORT=${RABBIT_STOMP_PORT:-35613}
export WEB_STOMP_PORT=${RABBIT_WS_PORT:-35674}
export AMQP_PORT=${RABBIT_AMQP_PORT:-35672}
export DIST_PORT=${RABBIT_DIST_PORT:-35772}
export HERALD_RABBITMQ_DIR=$OUT/rabbitmq

HERALD=$ROOT/target/release/herald
HERALD_URL=ws://127.0.0.1:$HERALD_WS_PORT/ws
RABBIT_URL=ws://127.0.0.1:$WEB_STOMP_PORT/ws
ECHO_URL=ws://127.0.0.1:$ECHO_PORT/ws
HERALD_PID='' RABBIT_PID='' ECHO_PID=''

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- brokers ---------------------------------------------------------------

start_herald() {
    local data=$OUT/herald-data
    rm -rf "$data" && mkdir -p "$data"
    HERALD_SERVER__HTTP_LISTEN=127.0.0.1:$HERALD_WS_PORT \
        HERALD_SERVER__STOMP_LISTEN=127.0.0.1:$HERALD_STOMP_PORT \
        HERALD_SERVER__DATA_DIR=$data HERALD_LOG__FILTER=warn \
        "$HERALD" serve >"$OUT/herald.out" 2>>"$OUT/herald.err" </dev/null &
    HERALD_PID=$!
    for _ in $(seq 1 100); do
        grep -q '^listening' "$OUT/herald.out" 2>/dev/null && return 0
        sleep 0.1
    done
    log "herald did not start; see $OUT/herald.err"
    exit 1
}

stop_herald() {
    [[ -n $HERALD_PID ]] || return 0
    kill -TERM "$HERALD_PID" 2>/dev/null || true
    wait "$HERALD_PID" 2>/dev/null || true
    HERALD_PID=''
}

start_rabbit() {
    conformance/rabbitmq.sh start >/dev/null
    RABBIT_PID=$(cat "$HERALD_RABBITMQ_DIR/rabbitmq.pid")
    # The Erlang VM's own process, whose memory and CPU we read.
    local beam
    beam=$(pgrep -f -P "$RABBIT_PID" beam.smp | head -n 1 || true)
    [[ -n $beam ]] && RABBIT_PID=$beam
    return 0
}

stop_rabbit() {
    conformance/rabbitmq.sh stop >/dev/null 2>&1 || true
    RABBIT_PID=''
}

start_echo() {
    "$HERALD" bench echo-server --listen "127.0.0.1:$ECHO_PORT" >"$OUT/echo.out" 2>&1 </dev/null &
    ECHO_PID=$!
    for _ in $(seq 1 50); do
        grep -q '^listening' "$OUT/echo.out" 2>/dev/null && return 0
        sleep 0.1
    done
    log "echo server did not start"
    exit 1
}

stop_all() {
    stop_herald
    stop_rabbit
    if [[ -n $ECHO_PID ]]; then
        kill "$ECHO_PID" 2>/dev/null || true
        wait "$ECHO_PID" 2>/dev/null || true
        ECHO_PID=''
    fi
}
trap stop_all EXIT

# --- measuring -------------------------------------------------------------

compilers() { ps -eo comm= | grep -cE '^(cargo|rustc|cc1|cc1plus|ld|build-script-bu)' || true; }

# Cores kept busy over the next two seconds, by every process.
busy_cores() {
    local a b
    a=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
    sleep 2
    b=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
    awk -v a="$a" -v b="$b" -v n="$(nproc)" 'BEGIN {
        split(a, x, " "); split(b, y, " ");
        d = y[2] - x[2]; if (d <= 0) d = 1;
        printf "%.2f", (y[1] - x[1]) / d * n }'
}

# Waits until no compiler runs and the machine is quiet (under 0.3 of a
# core busy), for at most IDLE_WAIT seconds per call.
wait_idle() {
    local deadline=$((SECONDS + IDLE_WAIT))
    while ((SECONDS < deadline)); do
        if [[ $(compilers) == 0 ]] && awk -v b="$(busy_cores)" 'BEGIN { exit !(b < 0.3) }'; then
            return 0
        fi
        sleep 3
    done
}

# run LABEL CASE PID URL HOST SCENARIO ARGS... : one report into $OUT/results
run() {
    local label=$1 case=$2 pid=$3 url=$4 host=$5 scenario=$6
    shift 6
    wait_idle
    RUN=$((RUN + 1))
    local file
    file=$(printf '%s/results/%03d-%s-%s-%s.json' "$OUT" "$RUN" "$scenario" "${case//[^a-zA-Z0-9=.]/_}" "$label")
    local load busy
    load=$(busy_cores)
    busy=$(compilers)
    log "$scenario $case on $label (busy cores before: $load, compilers: $busy)"
    local args=(bench --url "$url" --label "$label" --case "$case" --json
        --duration "$DURATION" --warmup "$WARMUP")
    [[ -n $pid ]] && args+=(--pid "$pid")
    [[ -n $host ]] && args+=(--host "$host")
    if ! "$HERALD" "${args[@]}" "$scenario" "$@" >"$file" 2>>"$OUT/bench.err"; then
        log "  the run reported losses or errors (kept in $file)"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$RUN" "$scenario" "$case" "$label" "$load" "$busy" >>"$OUT/runs.tsv"
}

# --- the run ---------------------------------------------------------------

wants() { [[ " $SCENARIOS " == *" $1 "* ]]; }

mkdir -p "$OUT"
if [[ $KEEP != 1 ]]; then
    rm -rf "$OUT/results"
    : >"$OUT/runs.tsv"
fi
mkdir -p "$OUT/results"
touch "$OUT/runs.tsv"
RUN=$(find "$OUT/results" -name '*.json' | wc -l)
: >"$OUT/bench.err"
: >"$OUT/herald.err"
log "building herald (release)"
cargo build --release --bin herald
conformance/rabbitmq.sh stop >/dev/null 2>&1 || true
wait_idle
LOAD_AT_START=$(uptime)
TOP_AT_START=$(top -bn1 | head -n 12)

# Memory per connection: a fresh broker for every run.
wants connections && for n in $CONNECTIONS; do
    for round in $(seq 1 "$ROUNDS"); do
        start_herald
        DURATION=$HOLD run herald "connections=$n" "$HERALD_PID" "$HERALD_URL" '' connections --connections "$n"
        stop_herald
        start_rabbit
        DURATION=$HOLD run rabbitmq "connections=$n" "$RABBIT_PID" "$RABBIT_URL" / connections --connections "$n"
        stop_rabbit
        # Sockets in TIME_WAIT from the last run hold source ports for a minute.
        sleep 5
    done
done

start_herald
start_rabbit
start_echo
wants pairs && for rate in $RATES max; do
    args=(--connections 20 --window 200)
    [[ $rate != max ]] && args+=(--rate "$rate")
    for round in $(seq 1 "$ROUNDS"); do
        run herald "rate=$rate" "$HERALD_PID" "$HERALD_URL" '' pairs "${args[@]}"
        run rabbitmq "rate=$rate" "$RABBIT_PID" "$RABBIT_URL" / pairs "${args[@]}"
        run echo "rate=$rate" "$ECHO_PID" "$ECHO_URL" '' pairs --echo "${args[@]}"
    done
done
wants fanout && for rate in $FANOUT_RATES max; do
    args=(--subscribers 100 --window 200)
    [[ $rate != max ]] && args+=(--rate "$rate")
    for round in $(seq 1 "$ROUNDS"); do
        run herald "rate=$rate" "$HERALD_PID" "$HERALD_URL" '' fanout "${args[@]}"
        run rabbitmq "rate=$rate" "$RABBIT_PID" "$RABBIT_URL" / fanout "${args[@]}"
    done
done
wants durable && for window in 1 16; do
    for round in $(seq 1 "$ROUNDS"); do
        run herald "window=$window" "$HERALD_PID" "$HERALD_URL" '' durable --connections 4 --window "$window"
        run rabbitmq "window=$window" "$RABBIT_PID" "$RABBIT_URL" / durable --connections 4 --window "$window"
    done
done

PROFILE_TEXT=''
if [[ $PROFILE == 1 ]] && wants profile && command -v perf >/dev/null && perf record -e cpu-clock -o "$OUT/perf-check.data" true >/dev/null 2>&1; then
    wait_idle
    log "profiling herald under pairs --rate 20000"
    # One connection first, so that no password check (argon2, once per
    # credentials) falls into the profile.
    "$HERALD" bench --url "$HERALD_URL" --duration 1s connections --connections 1 --settle 1s >/dev/null 2>&1 || true
    "$HERALD" bench --url "$HERALD_URL" --json --duration 15s --warmup 1s pairs --connections 20 --window 200 --rate 20000 \
        >"$OUT/profile-run.json" 2>>"$OUT/bench.err" &
    bench_pid=$!
    sleep 4
    perf record -e cpu-clock -F 999 -p "$HERALD_PID" -o "$OUT/perf.data" -- sleep 10 2>>"$OUT/bench.err" >/dev/null || true
    wait "$bench_pid" || true
    PROFILE_TEXT=$(perf report -i "$OUT/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9]' | sed -e 's/ *- *- *$//' -e 's/ *$//' | head -n 30 || true)
fi
stop_all

# --- the page --------------------------------------------------------------

rev=${BENCH_REV:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
max_load=$(cut -f5 "$OUT/runs.tsv" | sort -g | tail -n 1)
busy_runs=$(awk -F'\t' '$6 > 0' "$OUT/runs.tsv" | wc -l)
{
    echo "# Benchmarks: Herald and RabbitMQ Web-STOMP"
    echo
    echo "Written by \`bench/compare.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); every figure below is from that one run."
    echo "Both brokers, the echo server and the load generator (\`herald bench\`) share one machine, so"
    echo "each table gives the CPU time of the broker and of the generator beside each figure."
    echo
    echo "## Machine and software"
    echo
    echo "- $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -h | awk '/^Mem:/ {print $2}') RAM, $(uname -sr)"
    echo "- Herald $rev, release build, embedded defaults (SQLite store, \`synchronous=FULL\`), WebSocket on loopback"
    echo "- RabbitMQ $(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo '?') with rabbitmq_web_stomp, Erlang $(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null || echo '?'), from Debian, started by \`conformance/rabbitmq.sh\` (\`web_stomp.ws_frame = binary\`)"
    echo "- $(rustc --version)"
    echo "- Load when this invocation of the script began: \`$(echo "$LOAD_AT_START" | sed 's/^ *//')\`; busiest moment just before a run: $max_load cores busy (2-second sample, brokers idle included); runs started while a compiler was running: $busy_runs of $RUN."
    echo
    echo '<details><summary>top at the start</summary>'
    echo
    echo '```'
    echo "$TOP_AT_START"
    echo '```'
    echo
    echo '</details>'
    echo
    echo '<details><summary>load just before each run</summary>'
    echo
    echo '| run | scenario | case | broker | cores busy (all processes, 2 s) | compiler processes |'
    echo '| --- | --- | --- | --- | --- | --- |'
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$OUT/runs.tsv"
    echo
    echo '</details>'
    echo
    echo "## Method"
    echo
    echo "- Every case runs ${ROUNDS}x per broker, alternating Herald, RabbitMQ (and the echo server in \`pairs\`); tables show the median round, and of two rounds the worse (higher p99 at a fixed rate, lower throughput flat out, more memory per connection)."
    echo "- Each run: ${WARMUP} warm-up, then ${DURATION} measured. Latency is end to end (SEND written to MESSAGE read, in one process, timestamp in the body) from an HdrHistogram. Under \`--rate\` the generator's 1 ms timers may send a message up to 2 ms late and it is still timed from when it was written; a message later than that (a full window: the broker pushes back) is timed from when it was due, so falling behind shows as latency. Flat-out (\`rate=max\`) rows measure throughput: with up to 200 messages in flight per pair their latency is mostly queueing in that window."
    echo "- Correctness is checked as it goes: every message carries a stream and sequence number; lost and duplicate messages are counted and reported (a run with any is marked failed)."
    echo "- \`pairs\`: 20 connections as 10 publisher/subscriber pairs, one \`/topic/bench.{n}\` per pair, at most 200 messages in flight per pair. The echo rows: a tokio-tungstenite server that returns every WebSocket message, driven the same way (each pair is one connection receiving its own frames): the same bytes over the same number of sockets, with no broker work."
    echo "- \`fanout\`: one publisher and 100 subscribers on \`/topic/bench.fanout\`; deliveries = messages x 100."
    echo "- \`durable\`: 4 connections, SEND with \`receipt\` and \`persistent:true\` to \`/queue/bench.{n}\`, \`window\` receipts outstanding per connection; nothing consumes during the window, then each queue is drained and every receipted message must come out once."
    echo "- \`connections\`: N connections (CONNECT with \`heart-beat:10000,10000\`, SUBSCRIBE with a receipt to \`/topic/bench.conn.{n}\`), held ${HOLD}, then a probe message through each; broker memory per connection = (resident memory with all open - before) / N, on a freshly started broker. One process may hold at most 20,000 open files on this machine, so ~19,000 is the most one broker (and one generator) can hold here."
    echo
} >"$OUT/header.md"
{
    echo "## Profile"
    echo
    if [[ -n $PROFILE_TEXT ]]; then
        echo "\`perf record -e cpu-clock -F 999\` of the Herald process for 10 s during \`pairs --connections 20 --rate 20000\` (self time per symbol, top 30):"
        echo
        echo '```'
        echo "$PROFILE_TEXT"
        echo '```'
    else
        echo "No profile in this run (PROFILE=0, or perf cannot record here)."
    fi
    echo
    if [[ -f $ROOT/bench/notes.md ]]; then
        cat "$ROOT/bench/notes.md"
    fi
    # The 10-minute soak of one node, measured by bench/soak.sh.
    if [[ -f $ROOT/bench/soak.md ]]; then
        echo
        cat "$ROOT/bench/soak.md"
    fi
    # One node against three, measured by bench/cluster.sh.
    if [[ -f $ROOT/bench/cluster.md ]]; then
        echo
        cat "$ROOT/bench/cluster.md"
    fi
} >"$OUT/footer.md"
mkdir -p "$(dirname "$DOC")"
"$HERALD" bench render --results "$OUT/results" --output "$DOC" --header "$OUT/header.md" --footer "$OUT/footer.md"
if [[ $DOC == "$ROOT/docs/benchmarks.md" ]]; then
    # The reports behind the page, so it can be redrawn and checked.
    rm -rf "$ROOT/bench/results" && mkdir -p "$ROOT/bench/results"
    cp "$OUT"/results/*.json "$OUT/runs.tsv" "$ROOT/bench/results/"
fi
log "wrote $DOC"
