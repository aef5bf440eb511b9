#!/usr/bin/env bash
# Runs Herald on its embedded defaults with the web client: builds web/
# (npm ci + npm run build) when web/dist is missing or older than its
# sources, then `cargo run --release -- serve`. Open http://127.0.0.1:15674/.
# Needs Rust (cargo) and Node.js 20.19+ with npm. Arguments go to
# `herald serve` (e.g. --config FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "run: $*" >&2
  exit 1
}

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs)"

# True when web/dist is missing or a source is newer than its index.html.
web_stale() {
  [ -f web/dist/index.html ] || return 0
  [ -n "$(find web/src web/public web/index.html web/package.json web/package-lock.json \
    web/vite.config.ts web/tsconfig.app.json -newer web/dist/index.html -print -quit 2>/dev/null)" ]
}

if web_stale; then
  command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20.19 or newer (with npm) to build the web client"
  echo "run: building the web client (web/dist)..." >&2
  (
    cd web
    want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
    if [ ! -f node_modules/.herald-web-stamp ] || [ "$(cat node_modules/.herald-web-stamp)" != "$want" ]; then
      PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
      echo "$want" >node_modules/.herald-web-stamp
    fi
    npm run build --silent
  ) || die "the web client did not build (see above)"
fi

echo "run: starting Herald; the web client will be at http://127.0.0.1:15674/" >&2
exec cargo run --release --quiet -- serve "$@"
