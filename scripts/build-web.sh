#!/usr/bin/env bash
# Builds the web client into apps/web/dist: cargo (wasm32, size-tuned profile) → wasm-bindgen
# (the pinned CLI) → wasm-opt -Oz (npm binaryen 132, never Debian's) → static files. Offline.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
out=apps/web/dist
wasm_opt=node_modules/.bin/wasm-opt
[ -x "$wasm_opt" ] || { echo "node_modules lacks binaryen: run 'just setup'" >&2; exit 1; }
cargo build -p web --bin web --target wasm32-unknown-unknown --profile web-release
rm -rf "$out.tmp" && mkdir -p "$out.tmp/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$out.tmp/pkg" --out-name web \
  target/wasm32-unknown-unknown/web-release/web.wasm
"$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  "$out.tmp/pkg/web_bg.wasm" -o "$out.tmp/pkg/web_bg.wasm"
cp apps/web/static/* "$out.tmp/"
rm -rf "$out" && mv "$out.tmp" "$out"
