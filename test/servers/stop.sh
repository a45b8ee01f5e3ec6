#!/usr/bin/env bash
# Stops the servers that start.sh started from the same state dir
# (${SASLKIT_SERVERS_DIR:-/tmp/saslkit-servers}): only by their PID files,
# and only processes whose working directory lies in that state dir.
# Never by process name. Leaves the state dir (mail, logs) in place.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    exec sudo -n env SASLKIT_SERVERS_DIR="$STATE" SASLKIT_SERVERS_PORT_BASE="$PORT_BASE" "$0" "$@"
  fi
  echo "stop.sh: must run as root (or with sudo)" >&2
  exit 1
fi

if [ -z "${SASLKIT_SERVERS_LOCKED:-}" ] && [ -d "$(dirname "$STATE")" ]; then
  exec 9>"$LOCK_FILE"
  flock -w 60 9
fi

[ -d "$STATE" ] || exit 0

pids=()
names=()
for entry in "dovecot:$PID_DOVECOT" "postfix:$PID_POSTFIX" "oauth:$PID_OAUTH"; do
  name=${entry%%:*}
  file=${entry#*:}
  [ -f "$file" ] || continue
  pid=$(head -n1 "$file" | tr -d ' \n')
  if is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
    names+=("$name")
  fi
done

# Wait up to 10 s; a zombie (state Z) counts as gone (the daemons end up as
# children of PID 1, which may reap them late).
deadline=$((SECONDS + 10))
while :; do
  alive=()
  for i in "${!pids[@]}"; do
    if is_ours "${pids[$i]}"; then alive+=("$i"); fi
  done
  [ ${#alive[@]} -eq 0 ] && break
  if [ $SECONDS -ge $deadline ]; then
    for i in "${alive[@]}"; do
      echo "stop.sh: ${names[$i]} (pid ${pids[$i]}) ignored SIGTERM, sending SIGKILL" >&2
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    done
    sleep 0.2
    break
  fi
  sleep 0.05
done

rm -f "$PID_OAUTH" "$STATE/env.json"
exit 0
