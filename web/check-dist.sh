#!/usr/bin/env bash
# Rebuilds the front end into a temporary directory and fails if it differs
# from the committed web/dist (run by CI; run it after changing web/ sources).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules ] || [ "${CHECK_DIST_CI:-}" = 1 ]; then
  npm ci --no-audit --no-fund
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
CHORUS_WEB_OUTDIR="$tmp/dist" npm run build >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
if ! diff -r "$tmp/dist" dist >"$tmp/diff.txt"; then
  echo "web/dist is stale: run 'npm ci && npm run build' in web/ and commit web/dist" >&2
  head -50 "$tmp/diff.txt" >&2
  exit 1
fi
echo "web/dist is up to date"
