#!/usr/bin/env bash
# Runs the local stack in the foreground until Ctrl-C: redis-server, redis-rest (the
# Upstash-compatible REST front) and the Worker under Miniflare (`wrangler dev`, which rebuilds
# the Worker when its sources change).
set -euo pipefail
cd "$(dirname "$0")/.."
redis_port=$1
rest_port=$2
worker_port=$3
state=.dev-state
mkdir -p "$state"

# The Worker reads its token from .dev.vars (git-ignored); make one on first run.
if [ ! -f .dev.vars ]; then
  echo "UPSTASH_REDIS_REST_TOKEN=dev-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" > .dev.vars
  echo "wrote .dev.vars with a fresh local token"
fi
token=$(sed -n 's/^UPSTASH_REDIS_REST_TOKEN=//p' .dev.vars)

pids=()
cleanup() {
  # A second Ctrl-C must not cut the cleanup short and leave workerd running.
  trap '' INT TERM
  for pid in "${pids[@]}"; do kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
# A trapped signal only runs its handler, and the script would go on (waiting up to five minutes
# for a Worker it has just stopped); exiting runs the EXIT trap, which stops everything once.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

set -m # each background job in its own process group, so cleanup stops workerd too
redis-server --port "$redis_port" --bind 127.0.0.1 --save 60 1 --appendonly no \
  --dir "$state" --loglevel warning &
pids+=($!)

# Tests that run this script have built it already (and hold cargo's lock meanwhile).
if [ "${EDGE_CHAT_SKIP_BUILD:-}" != 1 ] || [ ! -x target/debug/redis-rest ]; then
  cargo build -q -p redis-rest
fi
# The token goes in the environment, not on the command line, where `ps` would show it to every
# user of the machine.
REDIS_REST_TOKEN="$token" target/debug/redis-rest --listen "127.0.0.1:$rest_port" \
  --redis-url "redis://127.0.0.1:$redis_port" &
pids+=($!)

WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false \
  node_modules/.bin/wrangler dev --ip 127.0.0.1 --port "$worker_port" \
  --persist-to "$state/wrangler" --show-interactive-dev-session=false \
  --var "UPSTASH_REDIS_REST_URL:http://127.0.0.1:$rest_port" &
pids+=($!)

# Liveness: it asks Redis nothing, so waiting here costs no store commands.
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$worker_port/api/health" >/dev/null 2>&1 && break
  sleep 1
done

cat <<MSG

edge-chat is running:
  Chat             http://127.0.0.1:$worker_port   (WebSocket: ws://127.0.0.1:$worker_port/api/rooms/lobby/ws)
  Health           http://127.0.0.1:$worker_port/api/health         (the Worker runs)
  Store health     http://127.0.0.1:$worker_port/api/health/store   (Redis answers; kept 10 s)
  Upstash REST     http://127.0.0.1:$rest_port     (token in .dev.vars)
  Redis            redis://127.0.0.1:$redis_port   (data in $state/)
Ctrl-C stops everything.
MSG
wait -n
