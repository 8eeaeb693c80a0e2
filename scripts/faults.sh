#!/usr/bin/env bash
# The cluster's failure tests (tests/tests/cluster): scripts/cluster.sh's cluster
# (HAProxy, 3 replicas, a 6-node Redis Cluster) started in a folder of its own on
# free loopback ports, then, under load: a replica drained (SIGTERM) and killed
# (kill -9), a Redis primary killed, every Redis node stopped, 10x overload, a soak.
# Prints one `figure {json}` line per scenario; target/cluster/figures.json keeps them.
#
#   scripts/faults.sh          the short run CI makes (a few minutes)
#   scripts/faults.sh full     the lengths BENCHMARKS.md quotes (overload 60 s, soak 30 min)
#   SOAK_SECONDS=600 scripts/faults.sh full    another soak length
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
eval "$(bash scripts/setup.sh env)"
cargo build --release --locked --bins
if [ "${1:-}" = full ]; then export CLUSTER_FULL=1; fi
cargo test --release --locked -p e2e --features e2e --test cluster -- --nocapture 2>&1 | tee target/cluster-faults.log
