#!/usr/bin/env bash
# Runs the shared SMTP client harness with saslkit as one more adapter (see README.md here).
# The harness folder is read-only: it is copied to a fresh temp dir, the manifest gets this
# checkout's absolute path, and every argument goes to the harness's run.sh unchanged.
#   bash bench/harness/run.sh --quick --clients floor-node,nodemailer-conn,saslkit
#   SASLKIT_HARNESS=/path/to/bench bash bench/harness/run.sh ...   (another copy of the harness)
# Results land in the temp copy (printed at the end); copy what you keep into bench/results/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="${SASLKIT_HARNESS:-$here/../../../shared/bench}"
[ -f "$src/run.sh" ] || { echo "harness not found at $src (set SASLKIT_HARNESS)" >&2; exit 1; }
# The adapter loads the built packages (dist/): build unless told not to.
if [ "${SASLKIT_BENCH_SKIP_BUILD:-}" != "1" ]; then (cd "$here/../.." && pnpm exec tsc -b); fi
d="$(mktemp -d /tmp/saslkit-harness.XXXXXX)"
cp -r "$src" "$d"/
chmod -R u+w "$d"
sed "s#@BENCH_HARNESS@#$here#g" "$here/manifest.json" > "$d/manifest.json"
echo "harness copy: $d/bench (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
status=0
"$d"/bench/run.sh --manifest "$d/manifest.json" "$@" || status=$?
echo "results: $d/bench/results (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
exit $status
