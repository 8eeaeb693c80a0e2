#!/usr/bin/env bash
# The OpenAPI document is a contract, checked from outside: serves the demo
# collection on a free port (its own Redis, fake WeChat, bundles and admin data
# in a temp dir, so a running demo on 8080/6379 is left alone) and runs the
# pinned property-based API tester (schemathesis, scripts/setup.sh) against
# /api/v1/openapi.json with the operator key and every check.
#
#   scripts/contract.sh                       the fixed budget scripts/test.sh runs
#   SEED=7 EXAMPLES=100 scripts/contract.sh   another seed, more examples
#   scripts/contract.sh --phases fuzzing      extra arguments go to `st run`
#
# Every phase runs: examples, coverage (each documented value, boundary and
# method), fuzzing (EXAMPLES cases per operation) and stateful (call chains
# along the links schemathesis infers; the document declares none, so they are
# few and the phase takes seconds). The budget is the fixed seed and EXAMPLES;
# about 25 s on 2 cores, and the whole run is cut at 5 minutes regardless.
# One worker: schemathesis' parallel workers trip a CPython 3.11 `ast` race
# ("AST constructor recursion depth mismatch") now and then.
# Every phase runs (no --phases, so schemathesis.toml's per-operation
# settings apply): see that file for the one known tester false positive and
# how it is kept out.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
eval "$(bash scripts/setup.sh env)"
[ -x "${SCHEMATHESIS:-}" ] || bash scripts/setup.sh schemathesis >&2
SEED=${SEED:-20240612}
EXAMPLES=${EXAMPLES:-30}
OPERATOR_KEY=contract-operator-key
BIN="$ROOT/target/release"
for b in museum-server fake-wechat index-builder museum-fixtures; do
  [ -x "$BIN/$b" ] || cargo build --release --locked --bins
done

log() { printf '\033[1m[contract]\033[0m %s\n' "$*" >&2; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # port what
  local i
  for i in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$2 did not come up on port $1" >&2; return 1
}

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

start=$SECONDS
"$BIN/museum-fixtures" demo --out "$WORK/demo" >/dev/null
"$BIN/index-builder" build --records "$WORK/demo/exhibits.json" --images "$WORK/demo/images" \
  --museum palace-demo --bundles "$WORK/bundles" >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log" >&2; exit 1; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
  --logfile "$WORK/redis.log" &
PIDS+=($!)
WECHAT_PORT=$(free_port)
"$BIN/fake-wechat" --listen "127.0.0.1:$WECHAT_PORT" >"$WORK/wechat.log" 2>&1 &
PIDS+=($!)
PORT=$(free_port)
wait_port "$REDIS_PORT" redis-server
APP__SERVER__PORT=$PORT APP__REDIS__URL="redis://127.0.0.1:$REDIS_PORT/" \
  APP__BUNDLES__ROOT="$WORK/bundles" APP__RECOGNIZER__MODEL="$MUSEUM_MODEL" \
  APP__ADMIN__OPERATOR_KEY="$OPERATOR_KEY" APP__ADMIN__DATA_DIR="$WORK/admin" \
  APP__WECHAT__BASE_URL="http://127.0.0.1:$WECHAT_PORT" \
  "$BIN/museum-server" >"$WORK/server.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" museum-server || { tail -n 20 "$WORK/server.log" >&2; exit 1; }
log "server on port $PORT ($((SECONDS - start)) s); schemathesis seed $SEED, $EXAMPLES examples"

set +e
# Run from the temp dir: schemathesis keeps a crash cache (.schemathesis/) in
# its working directory.
(cd "$WORK" && timeout 300 "$SCHEMATHESIS" --config-file "$ROOT/schemathesis.toml" \
  run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
  -H "Authorization: Bearer $OPERATOR_KEY" \
  --checks all \
  --seed "$SEED" -n "$EXAMPLES" --generation-database none \
  --request-timeout 30 --workers 1 --no-color --warnings off "$@")
status=$?
set -e
if [ "$status" -ne 0 ]; then
  log "FAILED (exit $status); last server log lines:"
  tail -n 20 "$WORK/server.log" >&2
fi
log "done in $((SECONDS - start)) s"
exit "$status"
