#!/usr/bin/env bash
# Shared use of the servers by concurrent test runs on one machine.
#   acquire.sh HOLDER_PID   reuse the running servers if another live run
#                           holds a lease and they are healthy; else (re)start
#                           them with start.sh. Then record a lease for HOLDER_PID.
#   release.sh HOLDER_PID   drop the lease; stop the servers when no live
#                           lease is left.
# Leases live in $STATE.leases/ (one file per holder: PID and its start time,
# so a reused PID does not count). Both take the same lock as start/stop.sh.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE=$SERVERS_HERE

holder=${1:-}
[[ "$holder" =~ ^[0-9]+$ ]] || { echo "acquire.sh: usage: acquire.sh HOLDER_PID" >&2; exit 2; }

if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "acquire.sh: must run as root (or with sudo)" >&2; exit 1; }
  exec sudo -n env SASLKIT_SERVERS_DIR="$STATE" SASLKIT_SERVERS_PORT_BASE="$PORT_BASE" "$0" "$@"
fi

mkdir -p "$(dirname "$STATE")"
exec 9>"$LOCK_FILE"
flock -w 300 9 || { echo "acquire.sh: timed out waiting for $LOCK_FILE" >&2; exit 1; }
export SASLKIT_SERVERS_LOCKED=1
prune_leases

live=$(lease_count)
if [ "$live" -gt 0 ] && servers_healthy; then
  if [ "$(cat "$STATE/.config-hash" 2>/dev/null)" != "$(config_hash)" ]; then
    echo "acquire.sh: warning: the running servers use older scripts/templates; reusing them anyway" \
      "because $live other test run(s) use them" >&2
  fi
  write_lease "$holder"
  echo "acquire.sh: reusing the servers shared with $live other test run(s)"
  exit 0
fi

"$HERE/start.sh"
write_lease "$holder"
