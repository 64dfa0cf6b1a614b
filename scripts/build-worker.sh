#!/usr/bin/env bash
# Builds the Worker bundle (apps/chat-worker/build/index.js + index_bg.wasm) with worker-build,
# using the pinned wasm-bindgen CLI and npm's binaryen (never a download, never Debian's
# wasm-opt). wrangler runs this as the [build] command; tests set EDGE_CHAT_SKIP_BUILD=1 after
# building once, so starting many local Workers does not rebuild each time.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${EDGE_CHAT_SKIP_BUILD:-}" = 1 ] && [ -f apps/chat-worker/build/index.js ]; then
  exit 0
fi
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
[ -x "$WASM_OPT_BIN" ] || { echo "node_modules lacks binaryen: run 'just setup'" >&2; exit 1; }
cd apps/chat-worker
worker-build --release
