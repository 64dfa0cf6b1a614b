#!/usr/bin/env bash
# Runs the local stack in the foreground until Ctrl-C: redis-server and redis-rest (the
# Upstash-compatible REST front). Later issues add the Worker under Miniflare and the web client.
set -euo pipefail
cd "$(dirname "$0")/.."
redis_port=$1
rest_port=$2
token=${REDIS_REST_TOKEN:-dev-token}
state=.dev-state
mkdir -p "$state"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

redis-server --port "$redis_port" --bind 127.0.0.1 --save 60 1 --appendonly no \
  --dir "$state" --loglevel warning &
pids+=($!)

cargo build -q -p redis-rest
target/debug/redis-rest --listen "127.0.0.1:$rest_port" \
  --redis-url "redis://127.0.0.1:$redis_port" --token "$token" &
pids+=($!)

cat <<MSG

edge-chat local stack:
  Redis            redis://127.0.0.1:$redis_port   (data in $state/)
  Upstash REST     http://127.0.0.1:$rest_port     token: $token
  try:  curl -H 'Authorization: Bearer $token' http://127.0.0.1:$rest_port/ping
Ctrl-C stops everything.
MSG
wait -n
