#!/usr/bin/env bash
# What the museum console's job polling costs (BENCHMARKS.md, "Console job
# polling"): the console asks GET /api/v1/admin/museums/{m}/jobs/{job} every
# 500 ms while a build or change runs. This serves the demo bundle with the
# admin API on, gives the demo museum a profile and a key, starts one real
# job (a text edit of pd-006: an `index-builder upsert --keep-media`), and
# drives that route with wrk at 1 and 16 connections (a console; many at
# once), RUNS times DURATION seconds each, printing wrk's summary lines.
#
#   scripts/bench/console_poll.sh          RUNS=3 DURATION=10
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
bash scripts/setup.sh >/dev/null
eval "$(bash scripts/setup.sh env)"
cargo build --release --locked --bins

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
PORT=${PORT:-8182}
REDIS_PORT=${REDIS_PORT:-6391}
B="$ROOT/var/bench-console"
OP=bench-operator-key
rm -rf "$B" && mkdir -p "$B"
./target/release/museum-fixtures demo --out "$B/demo" >/dev/null
./target/release/index-builder build --records "$B/demo/exhibits.json" --images "$B/demo/images" \
  --bundles "$B/bundles" --museum palace-demo >/dev/null 2>&1

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$B" --daemonize yes \
  --pidfile "$B/redis.pid" --logfile "$B/redis.log"
APP__SERVER__PORT=$PORT APP__REDIS__URL="redis://127.0.0.1:$REDIS_PORT/" APP__BUNDLES__ROOT="$B/bundles" \
  APP__RECOGNIZER__MODEL="$MUSEUM_MODEL" APP__ADMIN__OPERATOR_KEY=$OP APP__ADMIN__DATA_DIR="$B/admin" \
  ./target/release/museum-server >"$B/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; kill "$(cat "$B/redis.pid")" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.1; done

API="http://127.0.0.1:$PORT/api/v1/admin/museums"
KEY=$(curl -sf -H "Authorization: Bearer $OP" -H 'content-type: application/json' -d '{"id":"palace-demo"}' "$API" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["api_key"])')
python3 -c 'import json,sys; r=[x for x in json.load(open(sys.argv[1])) if x["id"]=="pd-006"][0]; r["images"]=[]; r["audio"]={}; json.dump(r, open(sys.argv[2], "w"))' \
  "$B/demo/exhibits.json" "$B/record.json"
JOB=$(curl -sS -H "Authorization: Bearer $KEY" -X PUT -F "record=@$B/record.json;type=application/json" "$API/palace-demo/exhibits/pd-006" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["job"]["id"])')
URL="$API/palace-demo/jobs/$JOB"
curl -sf -H "Authorization: Bearer $KEY" "$URL" >/dev/null
echo "polling $URL"
for c in 1 16; do
  for run in $(seq 1 "$RUNS"); do
    printf 'connections=%s run=%s: ' "$c" "$run"
    wrk -t1 -c"$c" -d"${DURATION}s" --latency -H "Authorization: Bearer $KEY" "$URL" \
      | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {printf "%s req/s, p50 %s, p99 %s\n", rps, p50, p99}'
  done
done
