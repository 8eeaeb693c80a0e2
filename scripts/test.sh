#!/usr/bin/env bash
# README command 2: install everything the project needs (idempotent), then run
# the whole test suite against the real model, real FAISS and a real Redis.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
eval "$(bash scripts/setup.sh env)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Admin jobs in the end-to-end tests run the real index-builder binary.
cargo build --release --locked --bins
set +e
cargo test --release --locked --workspace "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# cargo prints one summary per test binary (the last is often an empty doc-test
# run); close with the totals.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
