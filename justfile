# edge-chat: every command a developer or CI runs. `just` alone lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Versions of the tools `setup` installs; flake.nix pins the same.
worker_build_version := "0.8.7"
wasm_bindgen_version := "0.2.130"

# Ports `just dev` uses (override with environment variables).
redis_port := env_var_or_default("EDGE_CHAT_REDIS_PORT", "6390")
rest_port := env_var_or_default("EDGE_CHAT_REST_PORT", "8079")
worker_port := env_var_or_default("EDGE_CHAT_PORT", "8787")

# List the recipes.
default:
    @just --list --unsorted

# Install everything the other recipes need (apt, rustup target, cargo tools, npm); quick when done.
[group('dev')]
setup:
    WORKER_BUILD_VERSION={{worker_build_version}} WASM_BINDGEN_VERSION={{wasm_bindgen_version}} scripts/setup.sh

# Run the whole stack locally (Redis, the REST server, the Worker under Miniflare) until Ctrl-C.
[group('dev')]
dev: setup
    scripts/dev.sh {{redis_port}} {{rest_port}} {{worker_port}}

# Build the Worker bundle (apps/chat-worker/build) with worker-build.
[group('dev')]
build-worker:
    scripts/build-worker.sh

# Build the web client's static files (apps/web/dist): wasm-bindgen + wasm-opt, offline.
[group('dev')]
build-web:
    scripts/build-web.sh

# Deploy the Worker and the web client to Cloudflare (ENV: an [env.*] of wrangler.toml).
[group('deploy')]
deploy ENV="": setup build-worker build-web
    scripts/deploy.sh {{ENV}}

# Check the deployable bundle offline: size limit, Durable Object + migration, assets.
[group('deploy')]
deploy-check: build-worker build-web
    scripts/deploy-check.sh

# Check that the versions nix/versions.nix pins (for flake.nix) match the lock files.
[group('test')]
nix-check:
    nix-instantiate --parse flake.nix > /dev/null
    nix-instantiate --eval --strict nix/check-versions.nix

# Save screenshots of the room (desktop and phone, light and dark), the drawer and a first visit into docs/screenshots/.
[group('test')]
screenshots: setup build-worker build-web
    cargo run -q -p e2e --bin screenshots

# Benchmark the local stack (quick profile, under 2 minutes): table + docs/bench/quick.json.
[group('test')]
bench: setup build-worker build-web
    cargo run -q --profile loadgen -p loadgen -- --profile quick --out docs/bench/quick.json

# The whole benchmark set (several minutes): table + docs/bench/full.json.
[group('test')]
bench-full: setup build-worker build-web
    cargo run -q --profile loadgen -p loadgen -- --profile full --out docs/bench/full.json

# Time the web client in headless Chromium: a cold load on a slow phone, then a message into a list of 5000 (docs/bench/web-*.json).
[group('test')]
bench-web: setup build-worker build-web
    cargo run -q -p e2e --bin webbench -- load docs/bench/web-load.json
    cargo run -q -p e2e --bin webbench -- rows docs/bench/web-rows.json

# How long an edit, deletion, reaction, reply and send take to reach another client (local stack): table + docs/bench/actions.json.
[group('test')]
bench-actions: setup build-worker
    cargo run -q -p e2e --bin actionbench -- docs/bench/actions.json

# Report the size of the web client (wasm + JS) and the Worker, raw and gzip -9.
[group('dev')]
size: build-web build-worker
    scripts/size.sh

# Format every crate.
[group('dev')]
fmt:
    cargo fmt --all

# Clippy on every crate and target (native, and wasm32 for the Worker's crates), warnings as errors.
[group('test')]
lint:
    cargo clippy --workspace --exclude web --all-targets --all-features -- -D warnings
    cargo clippy -p chat-worker -p room -p protocol -p upstash -p client --target wasm32-unknown-unknown -- -D warnings
    cargo clippy -p web --all-targets --target wasm32-unknown-unknown -- -D warnings

# Everything CI checks: formatting, lints, and every test (unit, integration, SDK, Worker, browser e2e, DOM in Chromium).
[group('test')]
test: setup
    cargo fmt --all -- --check
    just lint
    just build-worker
    just build-web
    just nix-check
    just deploy-check
    cargo test --workspace --exclude web --all-targets --no-fail-fast
    CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}" cargo test -p web --target wasm32-unknown-unknown
