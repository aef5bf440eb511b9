#!/usr/bin/env bash
# A soak of one Herald node: a population of idle connections held for the
# whole run, and in each round a steady `pairs` load at a fixed rate and a
# `durable` load beside it, all through `herald bench`; after each round the
# broker's memory, open files and /metrics. Writes bench/soak.md and puts it
# in docs/benchmarks.md as its "Soak" section (replacing an older one).
#
#   bench/soak.sh                 # 10 rounds of 60 s: about 11 minutes with the build
#   QUICK=1 bench/soak.sh         # a smoke run of about a minute; writes its
#                                 # page under OUT, not into the tree
#
# The broker is a fresh `target/release/herald serve` on its embedded
# defaults (SQLite store) with a data dir of its own under OUT and loopback
# ports picked by the kernel; the script stops it at the end.
#
# Within each round `pairs` and `durable` run at the same time (both start
# at the round's start and measure over the same window); the idle
# connections answer heart-beats throughout. Rounds start on a fixed
# schedule, ROUND_SECONDS apart; a round whose loads take longer starts the
# next one late (the page gives every round's start).
#
# Environment: OUT (target/bench-soak), DOC (docs/benchmarks.md), MD
# (bench/soak.md), ROUNDS (10), ROUND_SECONDS (60), WARMUP (2: seconds of
# traffic before each measured window), TAIL (8: seconds of each round left
# for connecting, draining and sampling; the measured window is
# ROUND_SECONDS - WARMUP - TAIL), IDLE_CONNECTIONS (2000), HEART_BEAT
# (10000,10000), PAIRS_CONNECTIONS (200), RATE (5000 msg/s over all pairs),
# PAIRS_WINDOW (200), DURABLE_CONNECTIONS (4), DURABLE_WINDOW (1),
# HOLD_MARGIN (30: seconds the idle connections outlive the last round).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

QUICK=${QUICK:-0}
RENDER_ONLY=${RENDER_ONLY:-0}
OUT=${OUT:-$ROOT/target/bench-soak}
if [[ $QUICK == 1 ]]; then
    ROUNDS=${ROUNDS:-3} ROUND_SECONDS=${ROUND_SECONDS:-20} WARMUP=${WARMUP:-1} TAIL=${TAIL:-6}
    IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-200} HOLD_MARGIN=${HOLD_MARGIN:-10}
    MD=${MD:-$OUT/soak.md} DOC=${DOC:-$OUT/benchmarks.md}
fi
DOC=${DOC:-$ROOT/docs/benchmarks.md}
MD=${MD:-$ROOT/bench/soak.md}
ROUNDS=${ROUNDS:-10}
ROUND_SECONDS=${ROUND_SECONDS:-60}
WARMUP=${WARMUP:-2}
TAIL=${TAIL:-8}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-2000}
HEART_BEAT=${HEART_BEAT:-10000,10000}
PAIRS_CONNECTIONS=${PAIRS_CONNECTIONS:-200}
RATE=${RATE:-5000}
PAIRS_WINDOW=${PAIRS_WINDOW:-200}
DURABLE_CONNECTIONS=${DURABLE_CONNECTIONS:-4}
DURABLE_WINDOW=${DURABLE_WINDOW:-1}
HOLD_MARGIN=${HOLD_MARGIN:-30}
HERALD=$ROOT/target/release/herald
MEASURE=$((ROUND_SECONDS - WARMUP - TAIL))
if [[ $MEASURE -lt 1 ]]; then
    echo "ROUND_SECONDS ($ROUND_SECONDS) leaves no measured window after WARMUP ($WARMUP) and TAIL ($TAIL)" >&2
    exit 2
fi
HOLD=$((ROUNDS * ROUND_SECONDS + HOLD_MARGIN))

BROKER_PID='' HOLDER_PID=''
log() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

stop() { # pid: TERM, then KILL after 15 s
    local pid=$1 waited=0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [[ $waited -lt 150 ]]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    [[ -n $HOLDER_PID ]] && stop "$HOLDER_PID"
    [[ -n $BROKER_PID ]] && stop "$BROKER_PID"
    return 0
}
trap cleanup EXIT

CLK_TCK=$(getconf CLK_TCK)
if [[ $RENDER_ONLY == 1 ]]; then
    [[ -f $OUT/machine.txt ]] || { echo "RENDER_ONLY=1: no run in $OUT to draw" >&2; exit 2; }
    log "redrawing the page from the run in $OUT"
else
    log "building Herald (release; waits for cargo's lock when another build holds it)"
    cargo build --release --bin herald >&2

    rm -rf "$OUT" && mkdir -p "$OUT/results" "$OUT/metrics" "$OUT/data"
    {
        echo "nproc=$(nproc)"
        echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
        echo "mem_total_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
        echo "kernel=$(uname -r)"
        echo "rev=$(git rev-parse --short HEAD)"
        echo "dirty=$(git status --porcelain --untracked-files=no -- src storage protocol Cargo.toml Cargo.lock config | awk '{print $2}' | paste -sd' ')"
        echo "rustc=$(rustc --version)"
        echo "nofile=$(ulimit -n)"
        echo "started=$(date -u '+%Y-%m-%d %H:%M UTC')"
        for setting in QUICK=$QUICK ROUNDS=$ROUNDS ROUND_SECONDS=$ROUND_SECONDS WARMUP=$WARMUP MEASURE=$MEASURE \
            IDLE_CONNECTIONS=$IDLE_CONNECTIONS HEART_BEAT=$HEART_BEAT PAIRS_CONNECTIONS=$PAIRS_CONNECTIONS RATE=$RATE \
            PAIRS_WINDOW=$PAIRS_WINDOW DURABLE_CONNECTIONS=$DURABLE_CONNECTIONS DURABLE_WINDOW=$DURABLE_WINDOW HOLD=$HOLD; do
            echo "$setting"
        done
    } >"$OUT/machine.txt"

    log "starting herald serve (data in $OUT/data)"
    HERALD_SERVER__HTTP_LISTEN=127.0.0.1:0 HERALD_SERVER__STOMP_LISTEN=127.0.0.1:0 \
        HERALD_SERVER__DATA_DIR=$OUT/data HERALD_LOG__FILTER=warn \
        "$HERALD" serve >"$OUT/serve.out" 2>"$OUT/serve.log" </dev/null &
    BROKER_PID=$!
    for _ in $(seq 1 200); do
        grep -q '^listening' "$OUT/serve.out" 2>/dev/null && break
        kill -0 "$BROKER_PID" 2>/dev/null || { cat "$OUT/serve.log" >&2; exit 1; }
        sleep 0.1
    done
    HTTP=$(sed -n 's/^listening http=\([^ ]*\).*/\1/p' "$OUT/serve.out")
    [[ -n $HTTP ]] || { log "herald serve printed no listening line"; cat "$OUT/serve.log" >&2; exit 1; }
    URL=ws://$HTTP/ws
    echo "serve=HERALD_SERVER__HTTP_LISTEN=127.0.0.1:0 HERALD_SERVER__STOMP_LISTEN=127.0.0.1:0 HERALD_SERVER__DATA_DIR=${OUT#"$ROOT"/}/data HERALD_LOG__FILTER=warn target/release/herald serve" >>"$OUT/machine.txt"
    echo "listening=$(head -1 "$OUT/serve.out")" >>"$OUT/machine.txt"
    log "$(head -1 "$OUT/serve.out") (pid $BROKER_PID)"

    ticks() { # pid -> utime+stime in clock ticks (0 when gone)
        local stat
        stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
        stat=${stat##*) }
        awk '{print $12 + $13}' <<<"$stat"
    }
    status_kib() { # pid field -> kB value
        awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0
    }
    fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
    compilers() { { pgrep -x rustc; pgrep -x cc1; pgrep -x cc1plus; pgrep -x rust-lld; } 2>/dev/null | wc -l; }
    metric() { # name -> value in the last saved metrics file
        awk -v n="$1" '$1 == n {print $2}' "$OUT/metrics/last.txt"
    }
    : >"$OUT/samples.tsv"
    printf 'round\tphase\tepoch\trss_kib\thwm_kib\tfds\tbroker_ticks\tholder_ticks\tcpu_busy\tcpu_total\tdata_kib\tcompilers\tloadavg\n' >"$OUT/samples.tsv"
    # Samples the broker: memory, open files, CPU ticks, /metrics (saved as
    # metrics/<round>-<phase>.txt), the data dir's size and the machine's load.
    sample() { # round phase
        local file="$OUT/metrics/$1-$2.txt"
        curl -sf --max-time 10 "http://$HTTP/metrics" >"$file" || log "round $1 $2: /metrics did not answer"
        cp "$file" "$OUT/metrics/last.txt"
        local cpu
        cpu=$(awk '$1 == "cpu" {busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6}' /proc/stat)
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$(date +%s.%N)" \
            "$(status_kib "$BROKER_PID" VmRSS)" "$(status_kib "$BROKER_PID" VmHWM)" "$(fds "$BROKER_PID")" \
            "$(ticks "$BROKER_PID")" "$( [[ -n $HOLDER_PID ]] && ticks "$HOLDER_PID" || echo 0)" \
            ${cpu} "$(du -sk "$OUT/data" | cut -f1)" "$(compilers)" "$(cut -d' ' -f1-3 /proc/loadavg)" \
            >>"$OUT/samples.tsv"
    }

    sample 0 fresh
    # One login first, so that the idle population's connects find guest's
    # password check cached instead of running hundreds of argon2 checks at once
    # (bench/notes.md: that burst's memory stays resident and is not a leak).
    "$HERALD" bench --url "$URL" --duration 1s --json connections --connections 1 --settle 0s \
        >"$OUT/results/login.json" 2>"$OUT/results/login.err" || log "the first login saw errors"
    sample 0 login

    COMMON=(--url "$URL" --pid "$BROKER_PID" --label herald --json --heart-beat "$HEART_BEAT")
    HOLDER_CMD=("$HERALD" bench "${COMMON[@]}" --case idle --duration "${HOLD}s"
        connections --connections "$IDLE_CONNECTIONS")
    echo "${HOLDER_CMD[*]}" >"$OUT/commands.txt"
    log "opening $IDLE_CONNECTIONS idle connections, held ${HOLD}s"
    "${HOLDER_CMD[@]}" >"$OUT/results/idle.json" 2>"$OUT/results/idle.err" &
    HOLDER_PID=$!
    for _ in $(seq 1 1800); do
        curl -sf --max-time 5 "http://$HTTP/metrics" >"$OUT/metrics/last.txt" || true
        [[ $(metric herald_connections_open || echo 0) -ge $IDLE_CONNECTIONS ]] && break
        kill -0 "$HOLDER_PID" 2>/dev/null || break
        sleep 0.1
    done
    sample 0 idle
    log "$(metric herald_connections_open) connections open; $ROUNDS rounds of ${ROUND_SECONDS}s"

    T0=$(date +%s)
    for round in $(seq 1 "$ROUNDS"); do
        at=$((T0 + (round - 1) * ROUND_SECONDS))
        now=$(date +%s)
        [[ $now -lt $at ]] && sleep $((at - now))
        tag=$(printf '%02d' "$round")
        sample "$round" start
        log "round $round: pairs at $RATE msg/s and durable (load $(cut -d' ' -f1-3 /proc/loadavg), $(compilers) compiler processes)"
        pairs_cmd=("$HERALD" bench "${COMMON[@]}" --case "round=$round" --duration "${MEASURE}s" --warmup "${WARMUP}s"
            pairs --connections "$PAIRS_CONNECTIONS" --rate "$RATE" --window "$PAIRS_WINDOW")
        durable_cmd=("$HERALD" bench "${COMMON[@]}" --case "round=$round" --duration "${MEASURE}s" --warmup "${WARMUP}s"
            durable --connections "$DURABLE_CONNECTIONS" --window "$DURABLE_WINDOW")
        if [[ $round == 1 ]]; then
            echo "${pairs_cmd[*]}" >>"$OUT/commands.txt"
            echo "${durable_cmd[*]}" >>"$OUT/commands.txt"
        fi
        "${pairs_cmd[@]}" >"$OUT/results/$tag-pairs.json" 2>"$OUT/results/$tag-pairs.err" &
        pairs_pid=$!
        "${durable_cmd[@]}" >"$OUT/results/$tag-durable.json" 2>"$OUT/results/$tag-durable.err" &
        durable_pid=$!
        # Mid-window: what the broker holds with every load connected.
        sleep $((WARMUP + 1 + MEASURE / 2))
        sample "$round" load
        pairs_rc=0 durable_rc=0
        wait "$pairs_pid" || pairs_rc=$?
        wait "$durable_pid" || durable_rc=$?
        printf '%s\t%s\t%s\n' "$round" "$pairs_rc" "$durable_rc" >>"$OUT/exit-codes.tsv"
        [[ $pairs_rc == 0 ]] || log "round $round: pairs exited $pairs_rc"
        [[ $durable_rc == 0 ]] || log "round $round: durable exited $durable_rc"
        sleep 1
        sample "$round" end
        log "round $round done: $(metric herald_connections_open) connections open, RSS $(($(status_kib "$BROKER_PID" VmRSS) / 1024)) MiB"
    done

    log "waiting for the idle connections to finish (held ${HOLD}s from their last connect)"
    holder_rc=0
    wait "$HOLDER_PID" || holder_rc=$?
    HOLDER_PID=''
    echo "$holder_rc" >"$OUT/holder-rc.txt"
    sleep 2
    sample 99 closed
    log "every client closed: $(metric herald_connections_open) connections open, $(fds "$BROKER_PID") fds"

    # Stop the broker the way an operator would, and time it.
    stop_started=$(date +%s.%N)
    kill -TERM "$BROKER_PID"
    broker_rc=0
    wait "$BROKER_PID" || broker_rc=$?
    stop_s=$(python3 -c "import time; print(round(time.time() - $stop_started, 2))")
    BROKER_PID=''
    printf 'broker_exit=%s\nstop_s=%s\n' "$broker_rc" "$stop_s" >>"$OUT/machine.txt"
    log "herald serve exited $broker_rc after ${stop_s}s"
fi

python3 - "$OUT" "$MD" "$CLK_TCK" <<'PY'
import json, os, re, sys
out, md, clk_tck = sys.argv[1], sys.argv[2], int(sys.argv[3])
info = {}
for line in open(f"{out}/machine.txt"):
    key, _, value = line.rstrip("\n").partition("=")
    info.setdefault(key, value)
rounds = int(info["ROUNDS"])

def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None

def tail(path, n=3):
    try:
        return [l for l in open(path).read().splitlines() if l.strip()][-n:]
    except OSError:
        return []

samples = {}
header, *rows = [l.rstrip("\n").split("\t") for l in open(f"{out}/samples.tsv")]
for row in rows:
    s = dict(zip(header, row))
    for k in ("rss_kib", "hwm_kib", "fds", "broker_ticks", "holder_ticks", "cpu_busy", "cpu_total", "data_kib", "compilers"):
        s[k] = int(s[k] or 0)
    s["epoch"] = float(s["epoch"])
    samples[(int(s["round"]), s["phase"])] = s

def metrics(rnd, phase):
    values = {}
    try:
        text = open(f"{out}/metrics/{rnd}-{phase}.txt").read()
    except OSError:
        return None
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values

def reasons(m):
    return {re.search(r'reason="([^"]+)"', k).group(1): v for k, v in m.items()
            if k.startswith("herald_error_frames_total{")}

def errors_total(m):
    return sum(reasons(m).values()) if m else 0

def hist(m, name):
    """count, sum and the cumulative buckets of a histogram."""
    buckets = sorted(((float("inf") if b == "+Inf" else float(b)), v) for k, v in m.items()
                     for b in re.findall(rf'^{name}_bucket{{le="([^"]+)"}}$', k))
    return m.get(f"{name}_count", 0), m.get(f"{name}_sum", 0), buckets

def hist_quantile(buckets, count, q):
    """The upper bound of the bucket holding quantile q (Prometheus-style, no interpolation)."""
    if not count:
        return None
    for bound, cumulative in buckets:
        if cumulative >= q * count:
            return bound
    return float("inf")

mib = lambda kib: kib / 1024
exit_codes = {}
for line in open(f"{out}/exit-codes.tsv") if os.path.exists(f"{out}/exit-codes.tsv") else []:
    r, p, d = line.split()
    exit_codes[int(r)] = (int(p), int(d))

table = []
for rnd in range(1, rounds + 1):
    start, mid, end = samples.get((rnd, "start")), samples.get((rnd, "load")), samples.get((rnd, "end"))
    m_start, m_mid, m_end = metrics(rnd, "start"), metrics(rnd, "load"), metrics(rnd, "end")
    pairs, durable = load(f"{out}/results/{rnd:02d}-pairs.json"), load(f"{out}/results/{rnd:02d}-durable.json")
    wall = end["epoch"] - start["epoch"]
    row = {
        "round": rnd, "pairs": pairs, "durable": durable, "start": start, "mid": mid, "end": end,
        "m_start": m_start, "m_mid": m_mid, "m_end": m_end, "wall": wall,
        "rc": exit_codes.get(rnd, ("?", "?")),
        "broker_cores": (end["broker_ticks"] - start["broker_ticks"]) / clk_tck / wall,
        # None once the idle population's process has exited (its ticks read 0).
        "holder_cores": (end["holder_ticks"] - start["holder_ticks"]) / clk_tck / wall if end["holder_ticks"] else None,
        "machine_cores": (end["cpu_busy"] - start["cpu_busy"]) / max(1, end["cpu_total"] - start["cpu_total"]) * int(info["nproc"]),
        "errors_round": errors_total(m_end) - errors_total(m_start) if m_end and m_start else None,
    }
    # From one second after the loads ended to the next round's start (or the final sample).
    after = samples.get((rnd + 1, "start")) or samples.get((99, "closed"))
    row["after_cores"] = ((after["broker_ticks"] - end["broker_ticks"]) / clk_tck / (after["epoch"] - end["epoch"])
                          if after and after["broker_ticks"] and after["epoch"] > end["epoch"] else None)
    row["after_s"] = after["epoch"] - end["epoch"] if after else None
    table.append(row)

first_s = samples[(0, "fresh")]
closed = samples.get((99, "closed"))
m_fresh, m_idle, m_closed = metrics(0, "fresh"), metrics(0, "idle"), metrics(99, "closed")
m_last = m_closed or table[-1]["m_end"]
idle = load(f"{out}/results/idle.json")
t0 = table[0]["start"]["epoch"]

def ms(us):
    return f"{us / 1000:.2f}"

L = []
w = L.append
w("## Soak")
w("")
w(f"`bench/soak.sh` run of {info['started']}" + (" (**QUICK=1 smoke run: not a soak**)" if info["QUICK"] == "1" else "")
  + f": one Herald node on its embedded defaults (SQLite store, data dir of its own, loopback), "
  f"{info['ROUNDS']} rounds of {info['ROUND_SECONDS']} s. Every figure below is from that one run; none is smoothed or rerun.")
w("")
w("### Machine and software")
w("")
w(f"- {info['nproc']} cores ({info['cpu']}), {int(info['mem_total_kib']) / 1024 / 1024:.1f} GiB memory, Linux {info['kernel']}; "
  f"open files per process at most {info['nofile']}.")
busy = [r["machine_cores"] for r in table]
with_compilers = sum(1 for r in table if r["start"]["compilers"])
w(f"- **A shared machine**: other work (other engineers' compiles and test suites) may use the same {info['nproc']} cores at "
  f"any time, and the load generator (`herald bench`, three processes) runs there too. In this run all processes together "
  f"kept {min(busy):.2f} to {max(busy):.2f} cores busy per round (mean {sum(busy) / len(busy):.2f}), and "
  f"{with_compilers} of {len(table)} rounds started with a compiler process running. Each row gives the broker's CPU, "
  "the generator's beside it, all processes' together (*machine busy*) and the compiler processes seen at the round's "
  "start.")
dirty = info.get("dirty", "").strip()
w(f"- Herald {info['rev']} (HEAD when the build finished)" + (f" plus uncommitted changes in the working tree to {dirty}" if dirty else "")
  + f", release build; {info['rustc']}.")
w(f"- Broker: `{info['listening']}`, stopped with SIGTERM at the end: exit {info.get('broker_exit', '?')} after {info.get('stop_s', '?')} s.")
w("")
w("### Load")
w("")
w(f"- **Idle population**: {info['IDLE_CONNECTIONS']} connections opened once before round 1 and held through every round "
  f"(CONNECT with `heart-beat:{info['HEART_BEAT']}`, which each connection answers; SUBSCRIBE to its own "
  "`/topic/bench.conn.{n}`), then one probe message through each at the end. Before them, one connection logs in "
  "once, so the idle population's CONNECTs find guest's password check cached (the argon2 burst of "
  "\"Memory per connection\" above is not what this soak measures).")
w(f"- **Each round, at the same time** (both start with the round, {info['WARMUP']} s warm-up then {info['MEASURE']} s measured):")
w(f"  - `pairs`: {info['PAIRS_CONNECTIONS']} connections ({int(info['PAIRS_CONNECTIONS']) // 2} publisher/subscriber pairs, "
  f"`/topic/bench.{{n}}`), {int(info['RATE']):,} msg/s in total, at most {info['PAIRS_WINDOW']} in flight per pair; "
  "latency is publisher to subscriber.")
w(f"  - `durable`: {info['DURABLE_CONNECTIONS']} connections, SEND with `receipt` and `persistent:true` to "
  f"`/queue/bench.{{n}}` (the same queues every round), {info['DURABLE_WINDOW']} receipt(s) outstanding per "
  "connection, flat out; nothing consumes during the window, then each connection drains its queue and every "
  "receipted message must come out once. Latency is SEND to RECEIPT.")
w(f"- Rounds start every {info['ROUND_SECONDS']} s; the loads connect afresh each round (so each round also opens and closes "
  f"{int(info['PAIRS_CONNECTIONS']) + int(info['DURABLE_CONNECTIONS'])} connections). Samples: at each round's start, "
  "mid-window (\"load\") and one second after both loads ended (\"end\"): VmRSS and VmHWM from `/proc/PID/status`, "
  "open files from `/proc/PID/fd`, `/metrics`.")
w("")
w("<details><summary>exact commands</summary>")
w("")
w("```sh")
w(info["serve"])
for line in open(f"{out}/commands.txt"):
    w(line.rstrip("\n").replace(os.path.dirname(os.path.dirname(out)) + "/", ""))
w("# rounds 2 and later: the same two with --case round=N; every report's own command line is in its JSON (`command`)")
w("```")
w("")
w("</details>")
w("")
w("### Rounds")
w("")
w("| round | start (s) | pairs msg/s (target) | p50 ms | p99 ms | p99.9 ms | max ms | lost / dup | durable receipts/s | durable p99 ms | broker RSS MiB (HWM) | fds (under load) | connections open (under load) | ERROR frames | broker CPU | generator CPU: pairs + durable + idle | machine busy (cores) | compilers |")
w("| ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | --- | --- | ---: | ---: | --- | ---: | ---: |")
for r in table:
    p, d, e, mid = r["pairs"], r["durable"], r["end"], r["mid"]
    if p and p.get("messages"):
        pm, pl = p["messages"], p["latency_us"]
        pairs_cells = (f"{pm['per_s']:,.0f} ({int(info['RATE']):,})", ms(pl["p50"]), ms(pl["p99"]), ms(pl["p999"]),
                       ms(pl["max"]), f"{pm['lost']} / {pm['duplicates']}")
        pgen = p["cpu"]["generator_cores"]
    else:
        pairs_cells = (f"failed (exit {r['rc'][0]})", "-", "-", "-", "-", "-")
        pgen = None
    if d and d.get("messages"):
        durable_cells = (f"{d['messages']['per_s']:,.0f}", ms(d["latency_us"]["p99"]))
        dgen = d["cpu"]["generator_cores"]
    else:
        durable_cells = (f"failed (exit {r['rc'][1]})", "-")
        dgen = None
    conns_end = r["m_end"].get("herald_connections_open") if r["m_end"] else None
    conns_mid = r["m_mid"].get("herald_connections_open") if r["m_mid"] else None
    fmt = lambda v: "-" if v is None else f"{v:.2f}"
    w(f"| {r['round']} | {r['start']['epoch'] - t0:.0f} | " + " | ".join(pairs_cells) + " | " + " | ".join(durable_cells)
      + f" | {mib(e['rss_kib']):.1f} ({mib(e['hwm_kib']):.1f}) | {e['fds']} ({mid['fds'] if mid else '-'}) | "
      f"{'-' if conns_end is None else int(conns_end)} ({'-' if conns_mid is None else int(conns_mid)}) | "
      f"{'-' if r['errors_round'] is None else int(r['errors_round'])} | {r['broker_cores']:.2f} | "
      f"{fmt(pgen)} + {fmt(dgen)} + {fmt(r['holder_cores'])} | {r['machine_cores']:.2f} | {r['start']['compilers']} |")
w("")
w("Columns: *start* is seconds after round 1 began. Latencies are the `pairs` report's over its measured window; "
  "*lost / dup* its correctness counts. *durable* figures are the `durable` report's (receipts per second over the "
  "window, SEND-to-RECEIPT p99). Broker RSS, HWM, fds and *connections open* are sampled one second after the "
  "round's loads ended (so the idle population and the broker's own files remain), with the mid-window sample in "
  "brackets. *ERROR frames* is the rise of `herald_error_frames_total` (all reasons) over the round. Broker CPU, the "
  "idle population's CPU and *machine busy* (every process, from `/proc/stat`) are averaged over the whole round from "
  "`/proc`; the pairs and durable generator CPU is each report's own, over its measured window. CPU is in cores "
  "(1.00 = one core busy).")
w("")

# Per-round metrics, deltas over the round.
w("<details><summary>/metrics over each round</summary>")
w("")
w("| round | SEND published | MESSAGE delivered | persisted | store writes (chat) | ERROR by reason | slow-consumer disconnects | heart-beat timeouts | connections opened / closed | durable backlog drained | broker RSS MiB start / mid / end | data dir MiB | broker CPU after the loads (cores, over s) | load average at start |")
w("| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | --- | ---: | --- | --- |")
for r in table:
    a, b = r["m_start"], r["m_end"]
    if not (a and b):
        w(f"| {r['round']} | - | - | - | - | - | - | - | - | - | - | - | - | - |")
        continue
    dl = lambda name: int(b.get(name, 0) - a.get(name, 0))
    by_reason = {k: int(v - reasons(a).get(k, 0)) for k, v in reasons(b).items() if v - reasons(a).get(k, 0)}
    w(f"| {r['round']} | {dl('herald_messages_published_total'):,} | {dl('herald_messages_delivered_total'):,} | "
      f"{dl('herald_messages_persisted_total'):,} | {dl('herald_store_write_seconds_count'):,} | "
      f"{', '.join(f'{k} {v}' for k, v in by_reason.items()) or 'none'} | {dl('herald_slow_consumer_disconnects_total')} | "
      f"{dl('herald_heartbeat_timeouts_total')} | {dl('herald_connections_total')} / {dl('herald_connections_closed_total')} | "
      + (f"{r['durable']['messages']['sent']:,}" if r["durable"] and r["durable"].get("messages") else "-")
      + f" | {mib(r['start']['rss_kib']):.1f} / {mib(r['mid']['rss_kib']) if r['mid'] else 0:.1f} / {mib(r['end']['rss_kib']):.1f} | "
      f"{r['end']['data_kib'] / 1024:.1f} | "
      + ("-" if r["after_cores"] is None else f"{r['after_cores']:.2f} over {r['after_s']:.0f}")
      + f" | {r['start']['loadavg']} |")
w("")
w("*Durable backlog drained*: the messages `durable` queued during its window (nothing consumes them until the window "
  "ends; then they are drained, so every round starts with empty queues). *mid* is the mid-window sample.")
w("")
w("*Broker CPU after the loads*: from one second after both loads of the round ended to the next round's start "
  "(the last round: to the sample after every client closed), when only the idle population is connected.")
w("")
w("`herald_store_write_seconds` times chat writes (`/user`, `/group`) only; `/queue` SENDs are counted in "
  "*persisted* but not timed by it, so with this load its count stays as shown and the durable column's SEND-to-RECEIPT "
  "p99 is the measure of the store.")
w("")
w("</details>")
w("")

# Verdict.
def rss(r):
    return mib(r["end"]["rss_kib"])
second = table[1] if len(table) > 1 else table[0]
last = table[-1]
growth = rss(last) - rss(second)
p99_first = table[0]["pairs"]["latency_us"]["p99"] if table[0]["pairs"] and table[0]["pairs"].get("latency_us") else None
p99_last = last["pairs"]["latency_us"]["p99"] if last["pairs"] and last["pairs"].get("latency_us") else None
errors_all = errors_total(m_last) if m_last else None
err_reasons = {k: int(v) for k, v in reasons(m_last).items() if v} if m_last else {}
bench_errors, samples_err = 0, []
lost = dup = 0
for r in table:
    for rep in (r["pairs"], r["durable"]):
        if rep:
            bench_errors += rep.get("errors", 0)
            samples_err += rep.get("error_samples", [])
            if rep.get("messages"):
                lost += rep["messages"]["lost"]
                dup += rep["messages"]["duplicates"]
failed_runs = sum(1 for r in table for rep in (r["pairs"], r["durable"]) if not rep)
ic = idle.get("connections") if idle else None
if idle:
    bench_errors += idle.get("errors", 0)
    samples_err += idle.get("error_samples", [])
w("### Verdict")
w("")
w(f"- **Broker RSS, round 2 to round {last['round']}**: {rss(second):.1f} -> {rss(last):.1f} MiB, "
  f"**{growth:+.1f} MiB ({growth / rss(second) * 100:+.1f} %)**; round 1 ended at {rss(table[0]):.1f} MiB, the broker "
  f"started at {mib(first_s['rss_kib']):.1f} MiB, held {mib(samples[(0, 'idle')]['rss_kib']):.1f} MiB with the idle "
  f"population open, and its high-water mark at the end was {mib(last['end']['hwm_kib']):.1f} MiB.")
if p99_first and p99_last:
    w(f"- **pairs p99, round 1 vs round {last['round']}**: {ms(p99_first)} ms -> {ms(p99_last)} ms, ratio "
      f"**{p99_last / p99_first:.2f}** (last / first); over all rounds p99 ran from "
      f"{ms(min(r['pairs']['latency_us']['p99'] for r in table if r['pairs']))} to "
      f"{ms(max(r['pairs']['latency_us']['p99'] for r in table if r['pairs']))} ms.")
else:
    w("- **pairs p99, first vs last round**: not available (a pairs run failed; see the table).")
w(f"- **ERROR frames, whole run**: **{'-' if errors_all is None else int(errors_all)}**"
  + (f" ({', '.join(f'{k} {v}' for k, v in err_reasons.items())})" if err_reasons else "")
  + f"; slow-consumer disconnects {int(m_last.get('herald_slow_consumer_disconnects_total', 0))}, heart-beat timeouts "
  f"{int(m_last.get('herald_heartbeat_timeouts_total', 0))}.")
if ic:
    probes = idle["messages"]
    w(f"- **Failed connections**: **{ic['failed'] + ic['dropped']}** of the idle population ({ic['opened']} of "
      f"{ic['requested']} opened, {ic['failed']} failed to open, {ic['dropped']} dropped while held; "
      f"{probes['received']} of {probes['sent']} end-of-run probes came back); generator-side errors over every "
      f"report {bench_errors}; load runs that produced no report {failed_runs}; messages lost {lost}, duplicated {dup}.")
else:
    w(f"- **Failed connections**: the idle population produced no report (exit {open(f'{out}/holder-rc.txt').read().strip()}); "
      f"generator-side errors {bench_errors}; load runs without a report {failed_runs}; lost {lost}, duplicated {dup}.")
if samples_err:
    w("- Error samples from the generator: " + "; ".join(f"`{s}`" for s in sorted(set(samples_err))[:6]) + ".")
if closed:
    fresh_fds = samples[(0, "fresh")]["fds"]
    w(f"- **After every client closed**: {int(m_closed.get('herald_connections_open', -1)) if m_closed else '-'} "
      f"connections open, {closed['fds']} open files (a fresh broker: {fresh_fds}), RSS {mib(closed['rss_kib']):.1f} MiB; "
      f"connections accepted {int(m_closed.get('herald_connections_total', 0)) if m_closed else '-'}, closed "
      f"{int(m_closed.get('herald_connections_closed_total', 0)) if m_closed else '-'}.")
log_lines = tail(f"{out}/serve.log", 10**6)
w(f"- Broker log at `warn`: {len(log_lines)} line(s)"
  + (": " + "; ".join(f"`{l[:160]}`" for l in log_lines[:3]) if log_lines else "") + ".")
w("")
w("### How to read it")
w("")
w("- A leak shows as RSS, open files or *connections open* that climb round after round at the same load. Round 1 "
  "includes the allocator's first growth under load (buffers, the SQLite page cache, the queues' first messages), so "
  "growth is measured from round 2. RSS that steps up and then holds is the allocator keeping freed memory, not a leak; "
  "HWM above RSS shows memory that was used and given back.")
w("- A node alone keeps every `/queue` message in memory as well as in the store until it is consumed "
  "(`src/router/queue.rs`), and `durable` consumes nothing during its window, so each round builds a backlog of that "
  "round's every SEND (*durable backlog drained*, under */metrics over each round*). RSS rises with the largest backlog "
  "so far and the allocator keeps that memory after the drain: a step in RSS in a round whose backlog is bigger than "
  "every earlier round's is that; a rise in a round whose backlog is not is what to look into.")
w("- *fds* counts the broker's sockets plus its own files: with every load closed it should come back to the idle "
  "population plus the fresh broker's count, every round.")
w("- A stall shows as achieved msg/s below the target, a p99.9 or max in the seconds, or durable receipts/s falling "
  "round after round. On this shared machine a tail (p99 and above) in one round mostly follows *machine busy* and "
  "*compilers*: compare it with them before blaming Herald, and compare medians and rates first.")
w("- ERROR frames, lost or duplicated messages and failed or dropped connections should all be zero.")
w("")
open(md, "w").write("\n".join(L))
PY

# The section goes before "## Cluster" (bench/cluster.sh cuts the page there
# and appends its own), replacing an older Soak section.
python3 - "$DOC" "$MD" "$ROOT/docs/benchmarks.md" <<'PY'
import os, sys
doc, section, source = sys.argv[1], sys.argv[2], sys.argv[3]
if not os.path.exists(doc):
    open(doc, "w").write(open(source).read() if os.path.exists(source) else "")
text = open(doc).read()
new = open(section).read().rstrip("\n") + "\n"
at = text.find("\n## Soak\n")
if at >= 0:
    end = text.find("\n## ", at + 1)
    rest = text[end + 1:] if end >= 0 else ""
    text = text[:at + 1] + new + ("\n" + rest if rest else "")
else:
    at = text.find("\n## Cluster\n")
    if at >= 0:
        text = text[:at + 1] + new + "\n" + text[at + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + new
open(doc, "w").write(text)
PY
log "wrote $MD and its section of $DOC"
cat "$MD"
