# edge-chat: every command a developer or CI runs. `just` alone lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Versions of the tools `setup` installs; flake.nix pins the same.
worker_build_version := "0.8.7"
wasm_bindgen_version := "0.2.130"

# Ports `just dev` uses (override with environment variables).
redis_port := env_var_or_default("EDGE_CHAT_REDIS_PORT", "6390")
rest_port := env_var_or_default("EDGE_CHAT_REST_PORT", "8079")

# List the recipes.
default:
    @just --list --unsorted

# Install everything the other recipes need (apt, rustup target, cargo tools, npm); quick when done.
[group('dev')]
setup:
    WORKER_BUILD_VERSION={{worker_build_version}} WASM_BINDGEN_VERSION={{wasm_bindgen_version}} scripts/setup.sh

# Run the whole stack locally (Redis, the Upstash-compatible REST server) until Ctrl-C.
[group('dev')]
dev: setup
    scripts/dev.sh {{redis_port}} {{rest_port}}

# Format every crate.
[group('dev')]
fmt:
    cargo fmt --all

# Clippy on every crate and target, all features, warnings as errors.
[group('test')]
lint:
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Everything CI checks: formatting, lints, and every test in the repo (unit, integration, SDK).
[group('test')]
test: setup
    cargo fmt --all -- --check
    just lint
    cargo test --workspace --all-targets --no-fail-fast
