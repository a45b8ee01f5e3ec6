#!/usr/bin/env bash
# Brings a fresh clone (Node 20 + npm only) to a built workspace: pnpm at the pinned version,
# dependencies from the lockfile, every package compiled. Safe to run again; quiet when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$want" ]; then
  echo "saslkit setup: installing pnpm $want with npm" >&2
  if ! npm install -g --no-fund --no-audit --loglevel=error "pnpm@$want" >&2; then
    # No write access to npm's global prefix: install under the user's home instead.
    npm install -g --no-fund --no-audit --loglevel=error --prefix "$HOME/.local" "pnpm@$want" >&2
    export PATH="$HOME/.local/bin:$PATH"
  fi
fi
pnpm install --frozen-lockfile --reporter=silent >&2
node scripts/prune-dist.mjs
pnpm -r --reporter=silent build >&2
