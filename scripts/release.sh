#!/usr/bin/env bash
# Publishes every non-private package. Always from a clean build: `dist` is not in git, so a fresh
# clone would otherwise pack empty packages.
#   bash scripts/release.sh             build, check, publish (after `pnpm version-packages`)
#   bash scripts/release.sh --dry-run   the same up to `pnpm publish -r --dry-run`
# `pnpm publish -r` rewrites `workspace:^` to `^<version>` and skips versions already published.
set -euo pipefail
cd "$(dirname "$0")/.."
pnpm install --frozen-lockfile --reporter=silent
rm -rf packages/*/dist
pnpm -r --reporter=silent build
node scripts/packages.mjs --check
node scripts/consumer-test.mjs
pnpm publish -r --access public "$@"
