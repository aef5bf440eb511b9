#!/usr/bin/env bash
# Starts `herald serve` on free loopback ports with a throwaway data
# directory, runs the conformance suite over WebSocket and TCP, and compares
# the results with conformance/expected/herald-{ws,tcp}.txt (every case
# passes). Exits non-zero on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --bin herald -p herald -p herald-conformance
work=$(mktemp -d)
cleanup() {
    [[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

HERALD_SERVER__HTTP_LISTEN=127.0.0.1:0 \
HERALD_SERVER__STOMP_LISTEN=127.0.0.1:0 \
HERALD_SERVER__DATA_DIR="$work/data" \
HERALD_LOG__FILTER=warn \
    target/debug/herald serve >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 100); do
    grep -q '^listening' "$work/out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; echo "herald did not start" >&2; exit 1; }
    sleep 0.1
done
line=$(head -n1 "$work/out")
http=$(sed -n 's/.*http=\([^ ]*\).*/\1/p' <<<"$line")
stomp=$(sed -n 's/.*stomp=\([^ ]*\).*/\1/p' <<<"$line")
[[ -n "$http" && -n "$stomp" ]] || { echo "unexpected start-up line: $line" >&2; exit 1; }

status=0
target/debug/herald-conformance --url "ws://$http/ws" --login guest --passcode guest \
    --expected conformance/expected/herald-ws.txt || status=1
target/debug/herald-conformance --url "tcp://$stomp" --login guest --passcode guest \
    --expected conformance/expected/herald-tcp.txt || status=1
exit $status
