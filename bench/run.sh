#!/usr/bin/env bash
# Runs the SCRAM benchmark and writes bench/results/scram*.md, each headed by the exact command used.
# SMTP speed is measured with the shared harness: bash bench/harness/run.sh (bench/harness/README.md).
# Client, sink and workers are pinned to one core with taskset when available (see README).
# Usage: bash bench/run.sh [--quick]      (a full run takes a few minutes; not part of CI)
set -euo pipefail
cd "$(dirname "$0")/.."
PIN=()
if command -v taskset >/dev/null 2>&1; then PIN=(taskset -c 0); fi
if [ "${SASLKIT_BENCH_SKIP_BUILD:-}" != "1" ]; then
  pnpm -r build >/dev/null || echo "warning: pnpm -r build failed; benchmarking the dist/ already built" >&2
fi
mkdir -p bench/results
run() {
  local out="$1"; shift
  local cmd=("${PIN[@]}" node "$@" --out "$out")
  echo "+ ${cmd[*]}" >&2
  BENCH_COMMAND="${cmd[*]}" "${cmd[@]}"
}
# SMTP speed: the shared harness (bash bench/harness/run.sh, see bench/harness/README.md).
run bench/results/scram.md bench/scram.mjs "$@"
# SCRAM again, unpinned: PBKDF2 runs on libuv threads, which one pinned core makes compete with
# the event loop; the unpinned run shows the stall without that artefact.
echo "+ node bench/scram.mjs $* --out bench/results/scram-unpinned.md" >&2
BENCH_COMMAND="node bench/scram.mjs $* --out bench/results/scram-unpinned.md" node bench/scram.mjs "$@" --out bench/results/scram-unpinned.md
