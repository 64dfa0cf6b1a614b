#!/usr/bin/env bash
# `just deploy-check`: what `wrangler deploy` would upload, checked without uploading: the
# bundle within the Workers size limit, the ChatRoom Durable Object binding and its SQLite
# migration, and the web client's assets. Runs for the default and the staging environment.
# Offline: wrangler's --dry-run needs no account.
set -euo pipefail
cd "$(dirname "$0")/.."
export EDGE_CHAT_SKIP_BUILD=1 WRANGLER_SEND_METRICS=false NO_COLOR=1
# Workers Free plan: 3 MiB after compression (paid plans allow 10 MiB).
limit_kib=3072
fail() { echo "deploy-check: $*" >&2; exit 1; }

grep -Eq '^new_sqlite_classes = \["ChatRoom"\]' wrangler.toml \
  || fail "wrangler.toml lacks the SQLite migration for ChatRoom (new_sqlite_classes)"
[ -f apps/web/dist/index.html ] || fail "apps/web/dist is not built: run 'just build-web'"

for env in "" staging; do
  label=${env:-default}
  out=target/deploy-check/$label
  rm -rf "$out"
  args=(deploy --dry-run --outdir "$out")
  [ -n "$env" ] && args+=(--env "$env")
  log=$(node_modules/.bin/wrangler "${args[@]}" 2>&1) || { echo "$log"; fail "$label: dry run failed"; }
  grep -q 'env.ROOM (ChatRoom) *Durable Object' <<<"$log" || { echo "$log"; fail "$label: no ROOM Durable Object binding"; }
  grep -q 'env.ASSETS *Assets' <<<"$log" || { echo "$log"; fail "$label: no assets binding"; }
  files=$(sed -n 's/.*Read \([0-9]*\) files from the assets directory.*/\1/p' <<<"$log")
  [ "${files:-0}" -ge 4 ] || { echo "$log"; fail "$label: assets missing (read ${files:-0} files)"; }
  gzip_kib=$(sed -n 's/.*Total Upload: .* gzip: \([0-9.]*\) KiB.*/\1/p' <<<"$log")
  [ -n "$gzip_kib" ] || { echo "$log"; fail "$label: no upload size in wrangler's output"; }
  awk -v s="$gzip_kib" -v l="$limit_kib" 'BEGIN { exit !(s <= l) }' \
    || fail "$label: the bundle is $gzip_kib KiB gzip, over the $limit_kib KiB limit"
  ls "$out"/*index_bg.wasm >/dev/null 2>&1 || fail "$label: no wasm in the bundle"
  echo "deploy-check ($label): bundle $gzip_kib KiB gzip (limit $limit_kib KiB), ChatRoom Durable Object + SQLite migration, $files asset files: ok"
done
