#!/usr/bin/env bash
# Hostile input at the parsers (tests/tests/hostile, issue 15 point 4): every
# target (image decoding, multipart uploads, CSV/JSON records, IIIF
# manifests, zip imports, the builder's event lines) gets generated and
# mutated real inputs for FUZZ_SECONDS each (default 60; the fast tier of
# scripts/test.sh runs them for 2 s). Prints each target's executions and
# findings; a finding fails the run with the shrunk input, which becomes a
# test in tests/tests/hostile/regressions.rs once fixed.
#
#   scripts/fuzz.sh                  FUZZ_SECONDS=60
#   FUZZ_SECONDS=600 scripts/fuzz.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh >&2
eval "$(bash scripts/setup.sh env)"
export FUZZ_SECONDS=${FUZZ_SECONDS:-60}
# One target at a time: each gets the machine's cores to itself for its budget.
cargo test --release --locked -p e2e --test hostile -- --nocapture --test-threads 1 2>&1 \
  | grep -aoE 'fuzz [^:]+: [0-9]+ executions.*findings|test [a-z_:]+ \.\.\. (FAILED|ok)$|test result.*|panicked.*|minimal failing input.*' || true
test "${PIPESTATUS[0]}" -eq 0
