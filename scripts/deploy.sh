#!/usr/bin/env bash
# `just deploy [ENV]`: deploys the Worker and the web client with wrangler, after checking that
# the Upstash database is configured. Never prints or commits a secret.
#
#   UPSTASH_REDIS_REST_URL=https://….upstash.io just deploy      # or set it in wrangler.toml
#   UPSTASH_REDIS_REST_TOKEN=… just deploy                       # stores the secret first
#   just deploy staging                                          # the [env.staging] Worker
set -euo pipefail
cd "$(dirname "$0")/.."
export EDGE_CHAT_SKIP_BUILD=1 WRANGLER_SEND_METRICS=false NO_COLOR=1
env_name=${1:-}
env_args=()
[ -n "$env_name" ] && env_args=(--env "$env_name")
wrangler=node_modules/.bin/wrangler
var_args=()
[ -n "${UPSTASH_REDIS_REST_URL:-}" ] && var_args=(--var "UPSTASH_REDIS_REST_URL:$UPSTASH_REDIS_REST_URL")

refuse() {
  echo "just deploy: $*" >&2
  exit 1
}

# The URL the deployed Worker would use, as wrangler resolves it (wrangler.toml, the
# environment, or UPSTASH_REDIS_REST_URL from the shell), read from a dry run.
dry=$("$wrangler" deploy --dry-run "${env_args[@]}" "${var_args[@]}" 2>&1) \
  || { echo "$dry" >&2; refuse "the dry run failed"; }
url=$(sed -n 's/.*env\.UPSTASH_REDIS_REST_URL ("\([^"]*\)").*/\1/p' <<<"$dry" | head -n 1)
case "$url" in
  "" | http://127.* | http://localhost* | https://127.* | https://localhost*)
    refuse "UPSTASH_REDIS_REST_URL is not configured for deployment (it is '${url:-unset}').
  Set it to your Upstash database's REST URL, either for one deploy:
    UPSTASH_REDIS_REST_URL=https://<your-db>.upstash.io just deploy ${env_name}
  or in wrangler.toml ([vars], or [env.${env_name:-<name>}.vars] for an environment)."
    ;;
esac

# The token is a secret of the deployed Worker: stored with `wrangler secret put`.
if [ -n "${UPSTASH_REDIS_REST_TOKEN:-}" ]; then
  printf '%s' "$UPSTASH_REDIS_REST_TOKEN" \
    | "$wrangler" secret put UPSTASH_REDIS_REST_TOKEN "${env_args[@]}" >/dev/null \
    || refuse "storing the UPSTASH_REDIS_REST_TOKEN secret failed (is 'wrangler login' done?)"
  echo "stored the UPSTASH_REDIS_REST_TOKEN secret"
else
  secrets=$("$wrangler" secret list "${env_args[@]}" 2>&1) \
    || refuse "could not list the Worker's secrets (run 'npx wrangler login' or set CLOUDFLARE_API_TOKEN):
$secrets"
  grep -q '"UPSTASH_REDIS_REST_TOKEN"' <<<"$secrets" \
    || refuse "the UPSTASH_REDIS_REST_TOKEN secret is not set. Set it once with
    npx wrangler secret put UPSTASH_REDIS_REST_TOKEN ${env_args[*]}
  (paste the token when asked), or run: UPSTASH_REDIS_REST_TOKEN=… just deploy ${env_name}"
fi

"$wrangler" deploy "${env_args[@]}" "${var_args[@]}"
