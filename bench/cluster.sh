#!/usr/bin/env bash
# `herald bench pairs` against one Herald node and against three, on this
# machine, in one run with the same load; writes bench/cluster.md and puts
# it in docs/benchmarks.md as its "Cluster" section (replacing an older one;
# bench/compare.sh appends bench/cluster.md when it redraws the page).
#
#   bench/cluster.sh              # about 5 minutes
#   QUICK=1 bench/cluster.sh      # a short smoke run
#
# The cluster is scripts/cluster-local.sh's (three nodes, Redis, PostgreSQL
# on loopback, no nginx: the generator connects to the nodes). The cases,
# alternated round by round so that drift on a shared machine hits each:
#   alone    a single node on its embedded defaults (SQLite, no Redis)
#   1 node   every connection to node 1 of the cluster
#   3 nodes  connections spread over the three nodes (`--urls`), so each
#            pair's publisher and subscriber sit on different nodes and every
#            message crosses Redis
# Broker CPU is that of the nodes and Redis together (the cluster's cost).
#
# It needs the cluster's ports free: stop a `scripts/cluster-local.sh` cluster
# first. Environment: OUT (target/bench-cluster), DOC (docs/benchmarks.md), ROUNDS
# (2), DURATION (10s), WARMUP (3s), RATES ("max 5000"), CONNECTIONS (20),
# WINDOW (200), IDLE_WAIT (120: seconds to wait for a compiler to finish).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    ROUNDS=${ROUNDS:-1} DURATION=${DURATION:-2s} WARMUP=${WARMUP:-1s} IDLE_WAIT=${IDLE_WAIT:-0}
fi
OUT=${OUT:-$ROOT/target/bench-cluster}
DOC=${DOC:-$ROOT/docs/benchmarks.md}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
RATES=${RATES:-"max 5000"}
CONNECTIONS=${CONNECTIONS:-20}
WINDOW=${WINDOW:-200}
IDLE_WAIT=${IDLE_WAIT:-120}
ALONE_PORT=${ALONE_PORT:-25774}
export HERALD_CLUSTER_DIR=$OUT/cluster REDIS_PORT=${REDIS_PORT:-26379}
HERALD=$ROOT/target/release/herald
ALONE_PID=''

log() { printf '[cluster-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup() {
    if [[ -n $ALONE_PID ]]; then
        kill "$ALONE_PID" 2>/dev/null || true
        wait "$ALONE_PID" 2>/dev/null || true
    fi
    NGINX=0 HERALD_BIN=$HERALD scripts/cluster-local.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Waits (up to IDLE_WAIT s) until no compiler runs; prints the load.
settle() {
    local waited=0
    while pgrep -x rustc >/dev/null 2>&1 || pgrep -x cc1 >/dev/null 2>&1; do
        [[ $waited -ge $IDLE_WAIT ]] && break
        sleep 5
        waited=$((waited + 5))
    done
    cut -d' ' -f1-3 /proc/loadavg
}

log "building Herald (release)"
cargo build --release --bin herald >&2
rm -rf "$OUT" && mkdir -p "$OUT/results"
NGINX=0 HERALD_BIN=$HERALD scripts/cluster-local.sh start >"$OUT/cluster-status.txt"
node_url() { echo "ws://127.0.0.1:1570$1/ws"; }
NODE_PIDS=$(cat "$HERALD_CLUSTER_DIR"/node{1,2,3}.pid | paste -sd,)
REDIS_PID=$(cat "$HERALD_CLUSTER_DIR/redis/redis.pid")

mkdir -p "$OUT/alone"
HERALD_SERVER__HTTP_LISTEN=127.0.0.1:$ALONE_PORT HERALD_SERVER__STOMP_LISTEN='' \
    HERALD_SERVER__DATA_DIR=$OUT/alone HERALD_LOG__FILTER=warn \
    "$HERALD" serve >"$OUT/alone.out" 2>"$OUT/alone.log" </dev/null &
ALONE_PID=$!
for _ in $(seq 1 100); do
    grep -q '^listening' "$OUT/alone.out" 2>/dev/null && break
    sleep 0.1
done

run=0
: >"$OUT/runs.tsv"
for round in $(seq 1 "$ROUNDS"); do
    for rate in $RATES; do
        for case in alone one three; do
            run=$((run + 1))
            rate_args=()
            [[ $rate != max ]] && rate_args=(--rate "$rate")
            case $case in
            alone) target=(--url "ws://127.0.0.1:$ALONE_PORT/ws" --pid "$ALONE_PID") label="alone" ;;
            one) target=(--url "$(node_url 1)" --pid "$NODE_PIDS,$REDIS_PID") label="1 node" ;;
            three)
                target=(--urls "$(node_url 1),$(node_url 2),$(node_url 3)" --pid "$NODE_PIDS,$REDIS_PID")
                label="3 nodes"
                ;;
            esac
            load=$(settle)
            log "round $round rate=$rate $label (load $load)"
            printf '%s\t%s\t%s\t%s\t%s\n' "$run" "$round" "$rate" "$label" "$load" >>"$OUT/runs.tsv"
            "$HERALD" bench "${target[@]}" --label "$label" --case "rate=$rate" \
                --duration "$DURATION" --warmup "$WARMUP" --json \
                pairs --connections "$CONNECTIONS" --window "$WINDOW" "${rate_args[@]}" \
                >"$OUT/results/$(printf '%03d' "$run")-$case-$rate.json" || log "run $run saw errors"
        done
    done
done

# The median round of each (rate, case), as a Markdown table.
python3 - "$OUT" "$ROOT/bench/cluster.md" "$ROUNDS" "$DURATION" "$WARMUP" "$CONNECTIONS" "$WINDOW" <<'PY'
import json, sys, glob, statistics, os, subprocess
out, doc, rounds, duration, warmup, connections, window = sys.argv[1:8]
reports = [json.load(open(p)) for p in sorted(glob.glob(f"{out}/results/*.json"))]
runs = [line.rstrip("\n").split("\t") for line in open(f"{out}/runs.tsv")]
cases = {}
for r in reports:
    cases.setdefault((r["case"], r["label"]), []).append(r)
def median(rs, key):
    rs = sorted(rs, key=key)
    return rs[(len(rs) - 1) // 2]
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
cpu = open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].split("\n")[0].strip()
lines = []
w = lines.append
w("## Cluster")
w("")
w(f"`bench/cluster.sh` (Herald {rev}): `herald bench pairs` with {connections} connections "
  f"({int(connections)//2} publisher/subscriber pairs on `/topic/bench.{{n}}`, at most {window} "
  f"messages in flight per pair), {warmup} warm-up then {duration} measured, {rounds} rounds "
  "alternating the cases; the table shows the median round (by throughput). "
  f"{os.cpu_count()} cores ({cpu}), shared by the generator, every node, Redis and PostgreSQL.")
w("")
w("- **alone**: one node on its embedded defaults (SQLite, no Redis).")
w("- **1 node**: node 1 of a three-node cluster (PostgreSQL, Redis; `scripts/cluster-local.sh`) takes every connection; "
  "each SEND is also published on Redis (no other node listens).")
w("- **3 nodes**: the same cluster, connections spread over the three nodes with `--urls`: each pair's publisher and "
  "subscriber are on different nodes, so every message goes publisher -> node A -> Redis -> node B -> subscriber.")
w("- *alone* is the same broker as Herald in the tables above; where it is faster here, these runs have "
  "WebSocket connections without Nagle (commit 68173d2), which those tables may predate.")
w("- Broker CPU is the node's for *alone*, and the three nodes' plus Redis's for the cluster cases; the generator's "
  "is its own process. In cores: CPU seconds over the measured window divided by its length.")
w("")
w("| rate | case | delivered/s | p50 ms | p99 ms | lost | dup | out of order | generator CPU (cores) | broker CPU (cores) |")
w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
order = {"alone": 0, "1 node": 1, "3 nodes": 2}
for (case, label) in sorted(cases, key=lambda k: (k[0] != "rate=max", k[0], order.get(k[1], 9))):
    r = median(cases[(case, label)], lambda r: r["messages"]["per_s"])
    m, l, c = r["messages"], r["latency_us"], r["cpu"]
    broker = "-" if c.get("broker_cores") is None else f"{c['broker_cores']:.2f}"
    w(f"| {case.split('=')[1]} | {label} | {m['per_s']:,.0f} | {l['p50']/1000:.2f} | {l['p99']/1000:.2f} | "
      f"{m['lost']} | {m['duplicates']} | {m['out_of_order']} | {c['generator_cores']:.2f} | {broker} |")
w("")
w("Reading them: flat out, every case keeps this two-core machine busy (generator, nodes and Redis together), so the "
  "cluster rows show what the bus costs, not what more machines would add. A node in a cluster encodes each message "
  "once more for Redis and Redis relays every one (back to the publishing node too when it has subscribers, which "
  "drops its own by their first header); three nodes add one Redis hop per message and spread the nodes' work over "
  "both cores. At a fixed rate all three cases deliver it; the Redis hop shows in the median latency.")
w("")
w("<details><summary>every run</summary>")
w("")
w("| run | round | rate | case | load average before | delivered/s | generator CPU | broker CPU |")
w("| --- | --- | --- | --- | --- | ---: | ---: | ---: |")
for (run, rnd, rate, label, load), r in zip(runs, reports):
    w(f"| {run} | {rnd} | {rate} | {label} | {load} | {r['messages']['per_s']:,.0f} | "
      f"{r['cpu']['generator_cores']:.2f} | {(r['cpu'].get('broker_cores') or 0):.2f} |")
w("")
w("</details>")
w("")
open(doc, "w").write("\n".join(lines))
PY

# The section goes at the end of the page, replacing an older one.
if [[ -f $DOC ]]; then
    python3 - "$DOC" "$ROOT/bench/cluster.md" <<'PY'
import sys
doc, section = sys.argv[1], sys.argv[2]
text = open(doc).read()
at = text.find("\n## Cluster\n")
if at >= 0:
    text = text[:at + 1]
if not text.endswith("\n\n"):
    text = text.rstrip("\n") + "\n\n"
open(doc, "w").write(text + open(section).read())
PY
fi
log "wrote bench/cluster.md and its section of $DOC"
cat "$ROOT/bench/cluster.md"
