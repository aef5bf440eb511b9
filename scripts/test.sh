#!/usr/bin/env bash
# Sets up what the test suite needs on a fresh Debian machine (npm packages,
# a Python venv with stomp.py, Debian's chromium) and runs all of it:
# formatting and lints, the web client's type check and build, unit,
# property and integration tests (real brokers on loopback, real clients,
# the web client in a real browser), and the conformance suite against a
# Herald process.
set -euo pipefail
cd "$(dirname "$0")/.."

# A one-off build: incremental caches would double the disk it needs.
export CARGO_INCREMENTAL=0

step() { printf '\n==> %s\n' "$*"; }

step "client libraries for the interop tests"
scripts/interop-deps.sh

step "chromium and npm packages for the web client and its browser tests"
scripts/web-deps.sh

step "web client: type check (vue-tsc) and build (web/dist)"
(cd web && npm run build --silent)

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "unit, property and integration tests (tests/web.rs: the browser tests)"
cargo test --workspace

step "conformance suite against a herald process"
scripts/conformance-herald.sh

step "all tests passed"
