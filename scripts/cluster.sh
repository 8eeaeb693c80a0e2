#!/usr/bin/env bash
# A cluster shaped like production, on this one machine (loopback only):
#   HAProxy (deploy/haproxy.cfg)  ->  3 museum-server replicas, each with a bundle cache of its own
#   a Redis Cluster: 6 nodes, 3 primaries + 3 replicas, AOF fsynced every second
#   an S3-protocol object store (moto's S3 server) holding the bundles: the builder
#   publishes the demo collection's bundle there, the replicas pull it
#   the fake WeChat API (development)
#
#   scripts/cluster.sh up        set up, build, start (or restart) everything; waits until it serves
#   scripts/cluster.sh status    what runs, the balancer's view of the replicas, the Redis Cluster's state
#   scripts/cluster.sh down      stop everything (Redis shuts down cleanly: its AOF keeps what visitors own)
#   scripts/cluster.sh wipe      down, then delete the cluster's folder (Redis data, admin data, bundles)
#
# Knobs (environment): CLUSTER_DIR (var/cluster), BASE_PORT (8100: the balancer;
# +1 its stats and metrics, +10.. the replicas, +20.. the Redis nodes, +30 the fake
# WeChat API, +31 the object store; the Redis nodes' cluster bus is at their port + 10000), REPLICA_SESSIONS (1 recognition at a time per replica), SKIP_SETUP=1
# (the fault tests: setup and the release build are done). Any APP__* variable set
# when it starts goes to every replica (e.g. APP__LIMITS__ANONYMOUS_RECOGNIZE_PER_MINUTE=0).
# Production notes: deploy/README.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DIR=${CLUSTER_DIR:-$ROOT/var/cluster}
BASE=${BASE_PORT:-8100}
LB_PORT=$BASE
STATS_PORT=$((BASE + 1))
REPLICAS=(1 2 3)
REDIS_NODES=(0 1 2 3 4 5)
WECHAT_PORT=$((BASE + 30))
STORE_PORT=$((BASE + 31))
STORE_URL=s3://bundles/museum-officer
replica_port() { echo $((BASE + 9 + $1)); }
redis_port() { echo $((BASE + 20 + $1)); }

log() { printf '\033[1m[cluster]\033[0m %s\n' "$*" >&2; }
# A pid file's process runs (not a zombie left by a kill, not gone).
alive() {
  [ -f "$1" ] || return 1
  local state
  state=$(awk '{print $3}' "/proc/$(cat "$1")/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}
wait_for() { # seconds, description, command...
  local deadline=$(( $(date +%s) + $1 )) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || { log "timed out waiting for $what"; return 1; }
    sleep 0.2
  done
}

start_redis() {
  local nodes=() n port d
  for n in "${REDIS_NODES[@]}"; do
    port=$(redis_port "$n"); d="$DIR/redis/$port"; mkdir -p "$d"
    nodes+=("127.0.0.1:$port")
    alive "$d/redis.pid" && continue
    # What visitors own (sessions, history, favorites) is on disk within a
    # second (AOF, fsync every second) and on a replica; a primary whose
    # replica has not heard from it for 1 s is replaced.
    redis-server --port "$port" --bind 127.0.0.1 --dir "$d" --daemonize yes \
      --pidfile "$d/redis.pid" --logfile "$d/redis.log" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000 \
      --cluster-require-full-coverage no --cluster-replica-validity-factor 0 \
      --appendonly yes --appendfsync everysec --save ""
  done
  for n in "${REDIS_NODES[@]}"; do
    wait_for 10 "redis on $(redis_port "$n")" redis-cli -p "$(redis_port "$n")" ping
  done
  # A new cluster is created once; a restarted one finds its peers in nodes.conf.
  local known
  known=$(redis-cli -p "$(redis_port 0)" cluster info | tr -d '\r' | awk -F: '$1=="cluster_known_nodes"{print $2}')
  if [ "${known:-0}" -lt 6 ]; then
    log "redis: creating the cluster (3 primaries, 3 replicas)"
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/logs/redis-create.log"
  fi
  for n in "${REDIS_NODES[@]}"; do
    wait_for 30 "redis cluster state ok on $(redis_port "$n")" \
      sh -c "redis-cli -p $(redis_port "$n") cluster info | grep -q 'cluster_state:ok'"
  done
}

# moto keeps objects in memory: a restarted store is empty, and `up` publishes again.
start_store() {
  local pid="$DIR/pids/object-store.pid"
  export AWS_ENDPOINT="http://127.0.0.1:$STORE_PORT" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=cluster AWS_SECRET_ACCESS_KEY=cluster
  if ! alive "$pid"; then
    setsid "$MOTO_SERVER" -H 127.0.0.1 -p "$STORE_PORT" >>"$DIR/logs/object-store.log" 2>&1 &
    echo $! >"$pid"
  fi
  wait_for 30 "the object store" curl -s -o /dev/null "http://127.0.0.1:$STORE_PORT/"
  curl -s -o /dev/null -X PUT "http://127.0.0.1:$STORE_PORT/bundles"
}

# The builder's own bundle root; every publish also goes to the store.
demo_bundle() {
  export MUSEUM_BUNDLES="$DIR/bundles" MUSEUM_BUNDLE_STORE="$STORE_URL"
  ./target/release/museum-fixtures demo --out "$DIR/demo" >/dev/null
  if [ ! -f "$MUSEUM_BUNDLES/palace-demo/CURRENT" ]; then
    log "building the demo bundle"
    ./target/release/index-builder build --records "$DIR/demo/exhibits.json" --images "$DIR/demo/images" \
      --museum palace-demo >"$DIR/logs/build.log"
  fi
  # (Again: the same version, a no-op when the store has it.)
  ./target/release/index-builder publish --museum palace-demo "$(cat "$MUSEUM_BUNDLES/palace-demo/CURRENT")" \
    >>"$DIR/logs/build.log"
}

start_replica() { # n
  local n=$1 port pid="$DIR/pids/replica-$1.pid" cluster=""
  port=$(replica_port "$n")
  alive "$pid" && return
  for r in "${REDIS_NODES[@]}"; do cluster+="${cluster:+,}redis://127.0.0.1:$(redis_port "$r")"; done
  (
    export APP__SERVER__PORT="$port"
    export APP__SERVER__DRAIN_S="${APP__SERVER__DRAIN_S:-2}"
    export APP__REDIS__CLUSTER_NODES="$cluster"
    export APP__BUNDLES__ROOT="$DIR/replica-$n/bundles"
    export APP__BUNDLES__STORE="$STORE_URL"
    export APP__RECOGNIZER__MODEL="$MUSEUM_MODEL"
    export APP__RECOGNIZER__SESSIONS="${REPLICA_SESSIONS:-1}"
    export APP__ADMIN__OPERATOR_KEY="${OPERATOR_KEY:-dev-operator-key}"
    export APP__ADMIN__DATA_DIR="$DIR/admin"
    export APP__WECHAT__BASE_URL="http://127.0.0.1:$WECHAT_PORT"
    export APP__LIMITS__TRUST_FORWARDED_FOR=true
    exec setsid ./target/release/museum-server >>"$DIR/logs/replica-$n.log" 2>&1
  ) &
  echo $! >"$pid"
}

lb_env() {
  export MO_LB_BIND="127.0.0.1:$LB_PORT" MO_LB_STATS="127.0.0.1:$STATS_PORT" MO_LB_SOCKET="$DIR/haproxy.sock"
  export MO_R1="127.0.0.1:$(replica_port 1)" MO_R2="127.0.0.1:$(replica_port 2)" MO_R3="127.0.0.1:$(replica_port 3)"
}

start_lb() {
  local pid="$DIR/pids/haproxy.pid"
  alive "$pid" && return
  lb_env
  haproxy -c -q -f deploy/haproxy.cfg
  setsid haproxy -f deploy/haproxy.cfg >>"$DIR/logs/haproxy.log" 2>&1 &
  echo $! >"$pid"
}

# The balancer's view: "r1 UP" per line.
lb_servers() {
  curl -sf "http://127.0.0.1:$STATS_PORT/;csv" | awk -F, '$1=="replicas" && $2 ~ /^r[0-9]/ { print $2, $18 }'
}
all_up() { [ "$(lb_servers | grep -c ' UP$')" -eq ${#REPLICAS[@]} ]; }

write_env() {
  local cluster="" r
  for r in "${REDIS_NODES[@]}"; do cluster+="${cluster:+,}redis://127.0.0.1:$(redis_port "$r")"; done
  {
    echo "LB_URL=http://127.0.0.1:$LB_PORT"
    echo "LB_STATS_URL=http://127.0.0.1:$STATS_PORT"
    echo "LB_SOCKET=$DIR/haproxy.sock"
    echo "WECHAT_URL=http://127.0.0.1:$WECHAT_PORT"
    echo "REDIS_NODES=$cluster"
    echo "REPLICA_PORTS=$(for n in "${REPLICAS[@]}"; do printf '%s ' "$(replica_port "$n")"; done)"
    echo "PIDS=$DIR/pids"
    echo "LOGS=$DIR/logs"
    echo "BUNDLES=$DIR/bundles"
    echo "STORE_URL=$STORE_URL"
    echo "STORE_ENDPOINT=http://127.0.0.1:$STORE_PORT"
  } >"$DIR/cluster.env"
}

up() {
  if [ -z "${SKIP_SETUP:-}" ]; then
    bash scripts/setup.sh
    eval "$(bash scripts/setup.sh env)"
    cargo build --release --locked --bins
  else
    eval "$(bash scripts/setup.sh env)"
  fi
  mkdir -p "$DIR/logs" "$DIR/pids" "$DIR/admin" "$DIR"/replica-{1,2,3}/bundles
  start_redis
  start_store
  demo_bundle
  if ! alive "$DIR/pids/fake-wechat.pid"; then
    setsid ./target/release/fake-wechat --listen "127.0.0.1:$WECHAT_PORT" >>"$DIR/logs/fake-wechat.log" 2>&1 &
    echo $! >"$DIR/pids/fake-wechat.pid"
  fi
  for n in "${REPLICAS[@]}"; do start_replica "$n"; done
  start_lb
  wait_for 120 "the balancer to see every replica up" all_up
  write_env
  log "serving on http://127.0.0.1:$LB_PORT (3 replicas behind HAProxy; stats http://127.0.0.1:$STATS_PORT/)"
  log "environment for scripts: $DIR/cluster.env; logs: $DIR/logs; stop: scripts/cluster.sh down"
}

status() {
  local f
  for f in "$DIR"/pids/*.pid "$DIR"/redis/*/redis.pid; do
    [ -f "$f" ] || continue
    if alive "$f"; then echo "running  $(basename "$(dirname "$f")")/$(basename "$f" .pid) (pid $(cat "$f"))"
    else echo "stopped  $(basename "$(dirname "$f")")/$(basename "$f" .pid)"; fi
  done
  echo "balancer:"; lb_servers | sed 's/^/  /' || echo "  not answering"
  echo "redis cluster:"; redis-cli -p "$(redis_port 0)" cluster nodes 2>/dev/null | awk '{print "  " $2, $3}' | sed 's/@[0-9]*//' || echo "  not answering"
}

down() {
  local f
  for f in "$DIR"/pids/*.pid "$DIR"/redis/*/redis.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  # The replicas drain (server.drain_s) before they stop.
  for f in "$DIR"/pids/*.pid "$DIR"/redis/*/redis.pid; do
    [ -f "$f" ] || continue
    for _ in $(seq 1 100); do alive "$f" || break; sleep 0.1; done
    alive "$f" && kill -9 "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  log "stopped"
}

case "${1:-}" in
  up) up ;;
  status) status ;;
  down) down ;;
  wipe) down; rm -rf "$DIR" ;;
  *) sed -n '2,18p' "$0"; exit 2 ;;
esac
