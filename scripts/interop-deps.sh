#!/usr/bin/env bash
# Installs what the interop tests (tests/interop.rs) need:
#   - tests/interop/node_modules: @stomp/stompjs and ws, from package-lock.json
#   - tests/interop/.venv: a Python venv with stomp.py, from requirements.txt
# Needs Node.js with npm and Python 3. On Debian, python3-venv is installed
# with apt-get when the venv module cannot create a venv (as root, or via sudo).
# Idempotent: a step whose inputs have not changed since its last success is
# skipped. Quiet when all goes well; on failure says which step failed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/interop"
venv="$dir/.venv"

step="start"
trap 'echo "interop-deps: FAILED during: $step (line $LINENO, exit $?)" >&2' ERR

die() {
  echo "interop-deps: $*" >&2
  exit 1
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH; $2"
}

# sha256 of the given files, one line.
digest() {
  cat "$@" | sha256sum | cut -d' ' -f1
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

# ---------------------------------------------------------------- Node
step="checking node and npm"
need node "install Node.js (18 or newer) with npm"
need npm "install npm"

cd "$dir"
if [ -f package-lock.json ]; then
  want="lock:$(digest package.json package-lock.json)"
else
  want="nolock:$(digest package.json)"
fi
stamp="node_modules/.herald-interop-stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d node_modules/@stomp/stompjs ] && [ -d node_modules/ws ]; then
  :
else
  if [ -f package-lock.json ]; then
    step="npm ci in tests/interop"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
  else
    step="npm install in tests/interop"
    npm install --no-audit --no-fund --loglevel=error >/dev/null
  fi
  echo "$want" >"$stamp"
fi
step="checking the node modules load"
node --input-type=module -e "import '@stomp/stompjs'; import 'ws';" \
  || die "node cannot load @stomp/stompjs and ws from $dir/node_modules"

# ---------------------------------------------------------------- Python
step="checking python3"
need python3 "install Python 3 (Debian: apt-get install -y python3)"

make_venv() {
  rm -rf "$venv"
  python3 -m venv "$venv" >/dev/null 2>&1
}

venv_ok() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1 \
    && [ -x "$venv/bin/pip" ]
}

if ! venv_ok; then
  step="creating the venv $venv"
  if ! make_venv; then
    # Debian ships the venv module's ensurepip part separately.
    step="installing python3-venv"
    need apt-get "python3 -m venv failed and apt-get is not available to install python3-venv"
    pyver="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
      || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${pyver}-venv" >/dev/null
    step="creating the venv $venv (after installing python3-venv)"
    make_venv || die "python3 -m venv $venv still fails"
  fi
  rm -f "$venv/.herald-interop-stamp"
fi

want="$(digest requirements.txt)"
stamp="$venv/.herald-interop-stamp"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  step="pip install -r tests/interop/requirements.txt"
  "$venv/bin/pip" install -q --disable-pip-version-check -r requirements.txt
  echo "$want" >"$stamp"
fi
step="checking stomp.py imports"
"$venv/bin/python" -c 'import stomp' || die "the venv cannot import stomp (stomp.py)"

trap - ERR
