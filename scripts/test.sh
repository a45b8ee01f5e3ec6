#!/usr/bin/env bash
# Runs every test: type-checks the tests, starts the real Postfix and Dovecot servers (through
# vitest's global setup, which installs the Debian packages when they are missing), runs vitest,
# and ends with the line "N passed, N failed" that CI reads.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -d "$HOME/.local/bin" ] && export PATH="$HOME/.local/bin:$PATH"
node scripts/prune-dist.mjs
pnpm exec tsc -b || exit 1
rm -f .vitest-report.json
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json=.vitest-report.json "$@"
rc=$?
if [ -f .vitest-report.json ]; then
  node -e 'const r=require("./.vitest-report.json"); console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""))'
else
  echo "0 passed, 1 failed"
  [ $rc -eq 0 ] && rc=1
fi
exit $rc
