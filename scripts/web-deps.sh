#!/usr/bin/env bash
# Installs what the web client and its browser tests need on a fresh Debian
# machine:
#   - Debian's chromium (apt-get), which the Playwright tests drive; no tool
#     downloads a browser of its own; and a colour emoji font, so emoji in
#     the screenshots the tests save are drawn
#   - web/node_modules from web/package-lock.json (npm ci): Vite, Vue,
#     vue-tsc, @stomp/stompjs and playwright-core
# Needs Node.js (20.19 or newer) with npm. Idempotent: a step whose inputs
# have not changed since its last success is skipped.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
web="$root/web"

step="start"
trap 'echo "web-deps: FAILED during: $step (line $LINENO, exit $?)" >&2' ERR

die() {
  echo "web-deps: $*" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $*"
  fi
}

# ---------------------------------------------------------------- chromium
step="installing chromium"
if [ "${HERALD_SKIP_CHROMIUM:-}" != "1" ]; then
  if ! [ -x /usr/bin/chromium ] || ! [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then
    command -v apt-get >/dev/null 2>&1 \
      || die "/usr/bin/chromium is missing and apt-get is not available; install Debian's chromium package"
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
  fi
  step="checking chromium runs"
  /usr/bin/chromium --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1 \
    || /usr/bin/chromium --version >/dev/null \
    || die "/usr/bin/chromium is installed but does not start"
fi

# ---------------------------------------------------------------- node
step="checking node and npm"
command -v node >/dev/null 2>&1 || die "node not found on PATH; install Node.js 20.19 or newer"
command -v npm >/dev/null 2>&1 || die "npm not found on PATH"
node -e '
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (!(major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19))) {
    console.error("web-deps: Node.js " + process.versions.node + " is too old for Vite; need 20.19+ or 22.12+");
    process.exit(1);
  }'

cd "$web"
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
stamp="node_modules/.herald-web-stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  :
else
  step="npm ci in web/"
  # Playwright must never fetch a browser of its own.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" >"$stamp"
fi
step="checking the node modules load"
node -e "require.resolve('playwright-core'); require.resolve('vite/package.json'); require.resolve('@stomp/stompjs')" \
  || die "web/node_modules is incomplete; remove it and run scripts/web-deps.sh again"

trap - ERR
