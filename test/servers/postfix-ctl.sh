#!/usr/bin/env bash
# Runs `postfix -c $STATE/postfix/etc ACTION` (start, abort, stop, ...) for the instance in
# ${SASLKIT_SERVERS_DIR:-/tmp/saslkit-servers}, from inside its state dir, as root. start.sh and
# the tests that stop and start Postfix themselves use it.
#
# When ACTION fails and Postfix's mail_owner cannot write $maillog_file, it says so after
# Postfix's own output: the path, who owns it with what mode, and why that matters. While Postfix
# is down (no postlogd), postsuper logs straight to that file after switching to mail_owner
# (postlogd(8), BUGS), so `postfix start` fails as soon as its queue check has anything to say,
# e.g. about a half-made queue file that a kill left behind.
set -uo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

action=${1:-}
[ -n "$action" ] || { echo "postfix-ctl.sh: usage: postfix-ctl.sh start|abort|stop|..." >&2; exit 2; }

if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "postfix-ctl.sh: must run as root (or with sudo)" >&2; exit 1; }
  exec sudo -n env SASLKIT_SERVERS_DIR="$STATE" SASLKIT_SERVERS_PORT_BASE="$PORT_BASE" "$0" "$@"
fi

ETC="$STATE/postfix/etc"
cd "$STATE/postfix" || exit 1
postfix -c "$ETC" "$action"
rc=$?
[ $rc -eq 0 ] && exit 0

# Prints "owner:group mode" of a path.
describe() { stat -c '%U:%G %a' "$1" 2>/dev/null || echo "missing"; }

log_file=$(postconf -c "$ETC" -h maillog_file 2>/dev/null)
owner=$(postconf -c "$ETC" -h mail_owner 2>/dev/null)
if [ -n "$log_file" ] && [ -n "$owner" ] && [[ "$log_file" != /dev/* ]]; then
  if [ -e "$log_file" ]; then
    writable=(test -w "$log_file")
  else
    writable=(test -w "$(dirname "$log_file")")
  fi
  if ! setpriv --reuid="$owner" --regid="$owner" --clear-groups "${writable[@]}"; then
    echo "postfix-ctl.sh: postfix $action failed (exit $rc), and mail_owner $owner cannot write maillog_file" \
      "$log_file (file: $(describe "$log_file"); directory: $(describe "$(dirname "$log_file")"))." \
      "While Postfix is down, postsuper writes that file itself as $owner; start.sh creates it owned by $owner." >&2
  fi
fi
exit $rc
