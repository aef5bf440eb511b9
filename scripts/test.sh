#!/usr/bin/env bash
# Sets up what the test suite needs on a fresh Debian machine (npm packages,
# a Python venv with stomp.py) and runs all of it: formatting and lints, unit,
# property and integration tests (real brokers on loopback, real clients),
# and the conformance suite against a Herald process.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "client libraries for the interop tests"
scripts/interop-deps.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "unit, property and integration tests"
cargo test --workspace

step "conformance suite against a herald process"
scripts/conformance-herald.sh

step "all tests passed"
