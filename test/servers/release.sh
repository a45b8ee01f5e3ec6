#!/usr/bin/env bash
# Drops the lease acquire.sh recorded for HOLDER_PID and stops the servers
# when no live lease is left (see acquire.sh).
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE=$SERVERS_HERE

holder=${1:-}
[[ "$holder" =~ ^[0-9]+$ ]] || { echo "release.sh: usage: release.sh HOLDER_PID" >&2; exit 2; }

if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "release.sh: must run as root (or with sudo)" >&2; exit 1; }
  exec sudo -n env SASLKIT_SERVERS_DIR="$STATE" SASLKIT_SERVERS_PORT_BASE="$PORT_BASE" "$0" "$@"
fi

mkdir -p "$(dirname "$STATE")"
exec 9>"$LOCK_FILE"
flock -w 300 9 || { echo "release.sh: timed out waiting for $LOCK_FILE" >&2; exit 1; }
export SASLKIT_SERVERS_LOCKED=1
rm -f "$LEASES/$holder"
prune_leases
live=$(lease_count)
if [ "$live" -gt 0 ]; then
  echo "release.sh: $live other test run(s) still use the servers; leaving them running"
  exit 0
fi
"$HERE/stop.sh"
