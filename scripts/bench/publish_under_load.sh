#!/usr/bin/env bash
# Zero-downtime publishing (BENCHMARKS.md): wrk keeps POST /api/v1/recognize
# busy while the demo museum's CURRENT is switched between two bundle versions
# every SWITCH_EVERY seconds with `index-builder publish`; every answer that is
# not a 2xx, and every socket error, counts as a failed request.
#
#   scripts/bench/publish_under_load.sh          DURATION=60 CONNECTIONS=4 SWITCH_EVERY=2
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
eval "$(bash scripts/setup.sh env)"
cargo build --release --locked --bins

DURATION=${DURATION:-60}
CONNECTIONS=${CONNECTIONS:-4}
SWITCH_EVERY=${SWITCH_EVERY:-2}
PORT=${PORT:-8182}
B="$ROOT/var/bench-publish"
IB=./target/release/index-builder
FX=./target/release/museum-fixtures   # demo collection and test photos
export MUSEUM_BUNDLES="$B/bundles-$(basename "$(dirname "$MUSEUM_MODEL")")"   # one root per model
mkdir -p "$B"
[ -f "$B/demo/exhibits.json" ] || $FX demo --out "$B/demo" >/dev/null
[ -f "$B/photos/pd-024.jpg" ] || $FX photos --out "$B/photos" --width 1280 --height 960 >/dev/null
# Two versions to switch between: a full build, and one exhibit deleted from it.
if [ "$($IB list --museum palace-demo --json 2>/dev/null | grep -o '"20[^"]*"' | sort -u | wc -l)" -lt 2 ]; then
  rm -rf "$MUSEUM_BUNDLES"
  $IB build --museum palace-demo --records "$B/demo/exhibits.json" --images "$B/demo/images" >/dev/null
  $IB delete --museum palace-demo --exhibit pd-024 >/dev/null
fi
mapfile -t VERSIONS < <($IB list --museum palace-demo --json | grep -o '"20[^"]*"' | tr -d '"' | sort -u | head -2)

trap 'kill $SERVER 2>/dev/null || true' EXIT
APP__SERVER__PORT=$PORT APP__BUNDLES__ROOT="$MUSEUM_BUNDLES" APP__REDIS__CACHE_TTL_S=0 \
  APP__REDIS__URL="redis://127.0.0.1:1/" APP__LIMITS__ANONYMOUS_RECOGNIZE_PER_MINUTE=0 \
  APP__WECHAT__TOKEN_CHECK_EVERY_S=0 RUST_LOG=warn ./target/release/museum-server &
SERVER=$!
for _ in $(seq 1 120); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/ready" && break; sleep 1; done

switches=0
(
  i=0
  end=$((SECONDS + DURATION))
  while [ $SECONDS -lt $end ]; do
    sleep "$SWITCH_EVERY"
    $IB publish --museum palace-demo "${VERSIONS[$((i % 2))]}" >/dev/null
    i=$((i + 1))
  done
  echo "$i" > "$B/switches"
) &
SWITCHER=$!
wrk -t 2 -c "$CONNECTIONS" -d "${DURATION}s" --timeout 60s -s scripts/bench/multipart.lua \
  "http://127.0.0.1:$PORT" -- "$B"/photos/*.jpg | sed -n 's/^RESULT //p' > "$B/result.json"
wait $SWITCHER
switches=$(cat "$B/switches")
echo "publishes: $switches between ${VERSIONS[0]} and ${VERSIONS[1]}"
echo "wrk: $(cat "$B/result.json")   (non2xx + errors = failed requests)"
