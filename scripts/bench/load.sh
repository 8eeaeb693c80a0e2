#!/usr/bin/env bash
# Load benchmark of POST /api/v1/recognize (BENCHMARKS.md): museum-server
# against the same pipeline as a Python team would build it (scripts/bench/peer.py:
# FastAPI + onnxruntime + faiss-cpu + Pillow + OpenCV), same model file, same
# published FAISS index, same 2016x1512 (3 MP) JPEG photos, driven by wrk at
# 1, 4 and 16 concurrent connections. Both get the machine's cores: our server
# runs 2 ONNX sessions x 1 thread, the peer 2 uvicorn workers x 1 thread.
# The result cache and rate limits are off, so every request is recognised.
#
#   scripts/bench/load.sh                 RUNS=3 DURATION=20 (seconds per point)
#   RUNS=1 DURATION=5 scripts/bench/load.sh   a quick look
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
eval "$(bash scripts/setup.sh env)"
cargo build --release --locked --bins

RUNS=${RUNS:-3}
DURATION=${DURATION:-20}
CONCURRENCY=${CONCURRENCY:-"1 4 16"}
OURS_PORT=${OURS_PORT:-8180}
PEER_PORT=${PEER_PORT:-8181}
B="$ROOT/var/bench"
IB=./target/release/index-builder
FX=./target/release/museum-fixtures   # demo collection and test photos
# One bundle root per model: a bundle built with another model is refused.
BUNDLES="$B/bundles-$(basename "$(dirname "$MUSEUM_MODEL")")"
mkdir -p "$B"
[ -f "$B/demo/exhibits.json" ] || $FX demo --out "$B/demo" >/dev/null
[ -f "$BUNDLES/palace-demo/CURRENT" ] || $IB build --records "$B/demo/exhibits.json" --images "$B/demo/images" \
  --bundles "$BUNDLES" --museum palace-demo >/dev/null
[ -f "$B/photos/pd-024.jpg" ] || $FX photos --out "$B/photos" --width 2016 --height 1512

# The peer's Python environment: every package pinned by version and hash.
VENV="$B/venv"
REQ_SUM=$(sha256sum scripts/bench/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$REQ_SUM" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --require-hashes --no-deps -r scripts/bench/requirements.txt
  echo "$REQ_SUM" > "$VENV/.requirements"
fi

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
APP__SERVER__PORT=$OURS_PORT APP__BUNDLES__ROOT="$BUNDLES" APP__REDIS__CACHE_TTL_S=0 \
  APP__REDIS__URL="redis://127.0.0.1:1/" \
  APP__LIMITS__ANONYMOUS_RECOGNIZE_PER_MINUTE=0 APP__WECHAT__TOKEN_CHECK_EVERY_S=0 \
  RUST_LOG=warn ./target/release/museum-server &
PIDS+=($!)
(cd scripts/bench && BUNDLE="$BUNDLES/palace-demo" MODEL="$(dirname "$MUSEUM_MODEL")" IMAGES="$B/demo/images" \
  OMP_NUM_THREADS=1 exec "$VENV/bin/uvicorn" peer:app --workers 2 --port "$PEER_PORT" --log-level warning) &
PIDS+=($!)
for port in $OURS_PORT $PEER_PORT; do
  for _ in $(seq 1 120); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/health" -o /dev/null 2>/dev/null && break
    curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/docs" 2>/dev/null | grep -q 200 && break
    sleep 1
  done
done

PHOTOS=("$B"/photos/*.jpg)
# Both must give the same answers for the comparison to mean anything.
for s in "ours $OURS_PORT" "peer $PEER_PORT"; do
  set -- $s
  right=0
  for p in "${PHOTOS[@]}"; do
    id=$(basename "$p" .jpg)
    curl -s -F "file=@$p" -F lang=en "http://127.0.0.1:$2/api/v1/recognize" |
      grep -q "\"status\": *\"matched\".*\"id\": *\"$id\"\|\"id\": *\"$id\".*\"status\": *\"matched\"" && right=$((right + 1))
  done
  echo "$1: $right of ${#PHOTOS[@]} benchmark photos matched to the right exhibit"
done
OUT="$B/results-$(date +%Y%m%d-%H%M%S).jsonl"
point() { # name port connections
  local threads=$(( $3 < 2 ? 1 : 2 ))
  wrk -t "$threads" -c "$3" -d "${DURATION}s" --timeout 60s -s scripts/bench/multipart.lua \
    "http://127.0.0.1:$2" -- "${PHOTOS[@]}" | sed -n 's/^RESULT //p' |
    sed "s/^{/{\"server\": \"$1\", \"connections\": $3, /" | tee -a "$OUT"
}
# Warm-up (model pages, allocator, Python imports), not measured.
for s in "ours $OURS_PORT" "peer $PEER_PORT"; do set -- $s; DURATION=3 point "$1" "$2" 2 >/dev/null; done
: > "$OUT"
for run in $(seq 1 "$RUNS"); do
  for c in $CONCURRENCY; do
    point ours "$OURS_PORT" "$c"
    point peer "$PEER_PORT" "$c"
  done
done
rss() { ps -o rss= -p "$1" --ppid "$1" 2>/dev/null | awk '{s+=$1} END {printf "%.0f", s/1024}'; }
echo "memory after load: ours $(rss "${PIDS[0]}") MiB, peer $(rss "$(pgrep -f "uvicorn peer:app" | head -1)") MiB (RSS incl. workers)"
python3 scripts/bench/summarise.py "$OUT"
