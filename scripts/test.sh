#!/usr/bin/env bash
# README command 2: install everything the project needs (idempotent), then run
# both test tiers:
#   fast  every crate's unit tests (pure logic, decisions, parsing, the error
#         table); what a plain `cargo test` runs, needs no setup
#   e2e   the real-component tier (tests/tests/e2e, one binary behind the e2e
#         package's `e2e` feature): the real model, real FAISS, a real Redis and
#         the release index-builder binary
#   cluster  the fault tests (tests/tests/cluster, short lengths): scripts/cluster.sh's
#         HAProxy + 3 replicas + 6-node Redis Cluster, parts killed under load
# Arguments go to every tier's `cargo test` (a test name filter, `-- --nocapture`); SKIP_CLUSTER=1 skips the cluster tier.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
eval "$(bash scripts/setup.sh env)"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# cargo prints one summary per test binary (the last is often an empty doc-test
# run); each tier and the whole run close with the totals.
totals() {
  awk -v label="$1" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
       END { printf "%s%d passed, %d failed\n", label, p, f }'
}

set +e
start=$(date +%s)
cargo test --release --locked --workspace "$@" 2>&1 | tee "$logs/fast"
fast=${PIPESTATUS[0]}
fast_s=$(( $(date +%s) - start ))

start=$(date +%s)
# Admin jobs in the end-to-end tests run the real index-builder binary.
if cargo build --release --locked --bins; then
  cargo test --release --locked -p e2e --features e2e --test e2e "$@" 2>&1 | tee "$logs/e2e"
  e2e=${PIPESTATUS[0]}
  built=1
else
  e2e=1
  built=0
fi
e2e_s=$(( $(date +%s) - start ))

start=$(date +%s)
if [ "$built" -eq 0 ]; then
  cluster=1   # the cluster would run stale binaries
elif [ -z "${SKIP_CLUSTER:-}" ]; then
  cargo test --release --locked -p e2e --features e2e --test cluster "$@" 2>&1 | tee "$logs/cluster"
  cluster=${PIPESTATUS[0]}
else
  cluster=0
fi
cluster_s=$(( $(date +%s) - start ))

# The OpenAPI document is a contract, checked from outside: the pinned API
# tester against a server of its own, fixed seed and budget (scripts/contract.sh).
start=$(date +%s)
bash scripts/contract.sh 2>&1 | tee "$logs/contract"
contract=${PIPESTATUS[0]}
contract_s=$(( $(date +%s) - start ))
set -e

touch "$logs/fast" "$logs/e2e" "$logs/cluster"
totals "tests, fast tier (${fast_s}s with its build): " < "$logs/fast"
totals "tests, e2e tier (${e2e_s}s with its build): " < "$logs/e2e"
totals "tests, cluster faults (${cluster_s}s): " < "$logs/cluster"
echo "contract check (${contract_s}s): $([ "$contract" -eq 0 ] && echo ok || echo "FAILED (exit $contract)")"
cat "$logs/fast" "$logs/e2e" "$logs/cluster" | totals "tests: "
[ "$fast" -eq 0 ] && [ "$e2e" -eq 0 ] && [ "$cluster" -eq 0 ] && [ "$contract" -eq 0 ]
