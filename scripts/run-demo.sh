#!/usr/bin/env bash
# README command 1: install everything (idempotent), build the demo collection's
# bundle, start Redis and serve the visitor API on http://127.0.0.1:8080.
#
#   scripts/run-demo.sh            reuse the demo bundle if one is published
#   REBUILD=1 scripts/run-demo.sh  build and publish a new bundle version first
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
eval "$(bash scripts/setup.sh env)"
cargo build --release --locked --bins

VAR="$ROOT/var"
export MUSEUM_BUNDLES="$VAR/bundles"
mkdir -p "$VAR"
# The demo collection is written by code (cheap, and it follows the fixtures:
# records, images, audio guides, sample photos).
./target/release/museum-fixtures demo --out "$VAR/demo" >/dev/null
# Bundles are per museum (var/bundles/<museum>/); a bundle built with another
# model than the one configured (the server would refuse it), or from other
# demo records than these, is simply rebuilt.
published_model() {
  local m="$MUSEUM_BUNDLES/palace-demo"
  [ -f "$m/CURRENT" ] && python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"]["id"])' \
    "$m/versions/$(cat "$m/CURRENT")/manifest.json" 2>/dev/null
}
configured_model=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$MUSEUM_MODEL")
# (The suffix names the bundle layout: media and search since issue 13.)
records_sha="$(sha256sum "$VAR/demo/exhibits.json" | cut -d' ' -f1)-media-search"
stamp="$MUSEUM_BUNDLES/.demo-records.sha256"
if [ -n "${REBUILD:-}" ] || [ "$(published_model)" != "$configured_model" ] \
   || [ "$(cat "$stamp" 2>/dev/null)" != "$records_sha" ]; then
  ./target/release/index-builder build --records "$VAR/demo/exhibits.json" \
    --images "$VAR/demo/images" --museum palace-demo
  echo "$records_sha" > "$stamp"
fi

# A small collection to onboard through the console (/console): a CSV of six
# demo exhibits, one without a title and one whose image is missing from the
# zip, so the validation report has something to say; rebuilt each run.
python3 - "$VAR/demo" <<'PY'
import csv, json, sys, zipfile, pathlib
demo = pathlib.Path(sys.argv[1]); out = demo / "onboarding"; out.mkdir(exist_ok=True)
records = {r["id"]: r for r in json.load(open(demo / "exhibits.json"))}
rows, images = [], []
for n, src in enumerate(["pd-002", "pd-005", "pd-008", "pd-011", "pd-014", "pd-017"], 1):
    r = records[src]; image = r["images"][0]
    row = {"id": f"my-{n:03}", "accession_number": f"MY-{n}", "title_en": r["title"].get("en", ""),
           "title_zh": r["title"].get("zh", ""), "period_en": r.get("period", {}).get("en", ""),
           "description_en": r.get("description", {}).get("en", ""), "images": image}
    if n == 5: row["title_en"] = row["title_zh"] = ""        # rejected: missing title
    if n == 6: row["images"] = "not-in-the-zip.jpg"          # rejected: image not found
    else: images.append(image)
    rows.append(row)
with open(out / "records.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
with zipfile.ZipFile(out / "images.zip", "w") as z:
    for image in images: z.write(demo / "images" / image, image)
PY

# Redis: use one already listening on the configured port, else start our own.
REDIS_PORT=${REDIS_PORT:-6379}
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  mkdir -p "$VAR/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$VAR/redis" --save "" \
    --appendonly no --daemonize yes --pidfile "$VAR/redis/redis.pid" --logfile "$VAR/redis/redis.log"
fi
export APP__REDIS__URL="redis://127.0.0.1:$REDIS_PORT/"
export APP__BUNDLES__ROOT="$MUSEUM_BUNDLES"
export APP__RECOGNIZER__MODEL="$MUSEUM_MODEL"
# Admin API (development key unless one is given); museum profiles and uploads in var/admin.
export APP__ADMIN__OPERATOR_KEY="${OPERATOR_KEY:-dev-operator-key}"
export APP__ADMIN__DATA_DIR="$VAR/admin"

# Development mode: the local fake WeChat API stands in for api.weixin.qq.com.
WECHAT_PORT=${WECHAT_PORT:-8090}
./target/release/fake-wechat --listen "127.0.0.1:$WECHAT_PORT" &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null || true' EXIT
export APP__WECHAT__BASE_URL="http://127.0.0.1:$WECHAT_PORT"

PORT=${APP__SERVER__PORT:-8080}
cat <<EOT
serving on http://127.0.0.1:$PORT (Ctrl-C to stop): open it in a browser for the visitor page;
the museum console is http://127.0.0.1:$PORT/console (log in with the operator key $APP__ADMIN__OPERATOR_KEY,
create a museum, log in with its key, onboard var/demo/onboarding/records.csv + images.zip); or try:
  curl -F file=@var/demo/photos/pd-006-visitor.jpg -F lang=en http://127.0.0.1:$PORT/api/v1/recognize
  CODE=\$(curl -s -X POST http://127.0.0.1:$WECHAT_PORT/fake/login | sed 's/.*"code":"\([^"]*\)".*/\1/')   # what wx.login() gives
  curl -s -H 'content-type: application/json' -d "{\"code\":\"\$CODE\"}" http://127.0.0.1:$PORT/api/v1/session
  curl -s -H 'Authorization: Bearer $APP__ADMIN__OPERATOR_KEY' http://127.0.0.1:$PORT/api/v1/admin/museums   # admin API (README)
EOT
./target/release/museum-server
