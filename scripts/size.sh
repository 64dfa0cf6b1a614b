#!/usr/bin/env bash
# Prints the sizes that ship: the web client's wasm + JS (what a browser downloads before the chat
# shows) and the Worker bundle, raw and compressed with gzip -9.
set -euo pipefail
cd "$(dirname "$0")/.."
row() {
  local raw gz
  raw=$(stat -c %s "$1")
  gz=$(gzip -9 -c "$1" | wc -c)
  printf '%-44s %9d B %9d B\n' "$1" "$raw" "$gz"
  total_raw=$((total_raw + raw)); total_gz=$((total_gz + gz))
}
printf '%-44s %11s %11s\n' file raw "gzip -9"
total_raw=0 total_gz=0
row apps/web/dist/pkg/web_bg.wasm
row apps/web/dist/pkg/web.js
printf '%-44s %9d B %9d B  (goal: 80 KB gzip, docs/BENCHMARKS.md)\n' "web client total" "$total_raw" "$total_gz"
total_raw=0 total_gz=0
row apps/chat-worker/build/index_bg.wasm
row apps/chat-worker/build/index.js
printf '%-44s %9d B %9d B\n' "Worker total" "$total_raw" "$total_gz"
