#!/usr/bin/env bash
# Runs the protocol decoder's fuzz target for a bounded time and keeps every
# crash it finds in protocol/fuzz/regressions/, which `cargo test -p
# herald-protocol --test regressions` replays as a normal test.
#
#   scripts/fuzz.sh [SECONDS]     # default 60
#
# Needs a nightly toolchain (rustup toolchain install nightly) and installs
# cargo-fuzz when it is missing. Exits non-zero when a crash was found.
set -euo pipefail

seconds="${1:-60}"
case "$seconds" in
  ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
protocol="$root/protocol"
fuzz="$protocol/fuzz"

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: a nightly toolchain is needed: rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

mkdir -p "$fuzz/corpus/decode" "$fuzz/artifacts/decode" "$fuzz/regressions"
before="$(mktemp)"
trap 'rm -f "$before"' EXIT
ls "$fuzz/artifacts/decode" > "$before"

status=0
(
  cd "$protocol"
  # The corpus grows in fuzz/corpus (git-ignored); seeds and kept
  # regressions are read as extra corpora.
  cargo +nightly fuzz run decode fuzz/corpus/decode fuzz/seeds fuzz/regressions -- \
    -max_total_time="$seconds" -max_len=8192 -timeout=10
) || status=$?

found=0
for artifact in "$fuzz/artifacts/decode"/*; do
  [ -f "$artifact" ] || continue
  name="$(basename "$artifact")"
  grep -qxF "$name" "$before" && continue
  cp "$artifact" "$fuzz/regressions/$name"
  echo "fuzz.sh: kept $name in protocol/fuzz/regressions/"
  found=$((found + 1))
done

if [ "$found" -gt 0 ] || [ "$status" -ne 0 ]; then
  echo "fuzz.sh: $found new crash(es), cargo fuzz exit status $status" >&2
  echo "fuzz.sh: reproduce with: cd protocol && cargo +nightly fuzz run decode fuzz/regressions/<name>" >&2
  exit 1
fi
echo "fuzz.sh: no crash in ${seconds}s"
