#!/usr/bin/env bash
# Installs what the justfile's recipes need. Idempotent: each step checks first and does nothing
# when its tool is already there at the pinned version, so a second run takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${WORKER_BUILD_VERSION:?}" "${WASM_BINDGEN_VERSION:?}"
export PATH="$HOME/.cargo/bin:$PATH"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

step() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# Debian packages. `apt-get update` runs only when something is missing.
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# Browser tests: Debian's Chromium and its matching ChromeDriver.
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
# Reactions are emoji: screenshots show them as people see them (where Debian's packages are the
# source; a Nix shell's Chromium draws them without, which only the pictures notice).
if command -v apt-get >/dev/null && [ ! -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then
  missing+=(fonts-noto-color-emoji)
fi
# `just bench` profiles workerd with perf (the run still works without it, minus that profile).
command -v perf >/dev/null || missing+=(linux-perf)
# Checks the Nix pins against the lock files (`just test`).
command -v nix-instantiate >/dev/null || missing+=(nix-bin)
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The Rust toolchain and wasm target from rust-toolchain.toml (rustup installs on first use, but
# saying so here makes the step visible and fails early without network).
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# worker-build builds the Worker; wasm-bindgen-cli must equal Cargo.lock's wasm-bindgen exactly.
if [ "$(worker-build --version 2>/dev/null || true)" != "$WORKER_BUILD_VERSION" ]; then
  step "cargo install worker-build $WORKER_BUILD_VERSION (several minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  # Without --locked: the CLI's lock file asks for a webpki-roots the registry lacks.
  step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (several minutes, once)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# npm packages (wrangler, miniflare, binaryen, @upstash/redis), reinstalled when the lock changes.
stamp=node_modules/.edge-chat-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  step "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
