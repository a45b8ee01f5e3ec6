# Sourced by start.sh, stop.sh and check.sh: state dir, ports, users.
# shellcheck shell=bash

SERVERS_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The daemons and their tools (postfix, dovecot, saslpasswd2) live in sbin, which a non-root
# user's PATH (and `env -i`) usually lacks; the packages may be installed and still "not found".
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin" ;; esac
case ":$PATH:" in *:/sbin:*) ;; *) PATH="$PATH:/sbin" ;; esac
export PATH
STATE=${SASLKIT_SERVERS_DIR:-/tmp/saslkit-servers}
case "$STATE" in
  /*) ;;
  *) STATE="$PWD/$STATE" ;;
esac
STATE=${STATE%/}
if [[ "$STATE" =~ [[:space:]\'\"\\] ]]; then
  echo "SASLKIT_SERVERS_DIR must not contain spaces, quotes or backslashes: $STATE" >&2
  exit 1
fi
LOCK_FILE="$STATE.lock"
MARKER="$STATE/.saslkit-servers"

HOST=127.0.0.1
STRICT_HOST=127.0.0.2
MAIL_HOSTNAME=mail.saslkit.test
DOMAIN=saslkit.test
TLS_SERVER_NAME=localhost

# Ports are PORT_BASE + the standard port (15025 for SMTP, ...). Another base
# lets a second instance (another SASLKIT_SERVERS_DIR) run at the same time.
PORT_BASE=${SASLKIT_SERVERS_PORT_BASE:-15000}
if ! [[ "$PORT_BASE" =~ ^[0-9]+$ ]] || [ "$PORT_BASE" -lt 1024 ] || [ "$PORT_BASE" -gt 64000 ]; then
  echo "SASLKIT_SERVERS_PORT_BASE must be a number from 1024 to 64000" >&2
  exit 1
fi
SMTP_PORT=$((PORT_BASE + 25))
SMTPS_PORT=$((PORT_BASE + 465))
SUBMISSION_PORT=$((PORT_BASE + 587))
IMAP_PORT=$((PORT_BASE + 143))
IMAPS_PORT=$((PORT_BASE + 993))
POP3_PORT=$((PORT_BASE + 110))
POP3S_PORT=$((PORT_BASE + 995))
OAUTH_PORT=$((PORT_BASE + 80))
# Postfix smtpd with Cyrus SASL (sasldb) instead of Dovecot's auth socket.
CYRUS_SMTP_PORT=$((PORT_BASE + 2525))
MESSAGE_SIZE_LIMIT=$((200 * 1024 * 1024))

# Ports listening on both HOST and STRICT_HOST, and on HOST only.
BOTH_HOSTS_PORTS=("$SMTP_PORT" "$SMTPS_PORT" "$SUBMISSION_PORT" "$IMAP_PORT" "$IMAPS_PORT" "$POP3_PORT" "$POP3S_PORT")
HOST_ONLY_PORTS=("$OAUTH_PORT" "$CYRUS_SMTP_PORT")

DOVECOT_MECHANISMS="plain login cram-md5 digest-md5 scram-sha-1 scram-sha-256 anonymous external oauthbearer xoauth2"
# Postfix cannot pass a client certificate to Dovecot: no EXTERNAL there.
POSTFIX_MECHANISMS="plain login cram-md5 digest-md5 scram-sha-1 scram-sha-256 anonymous oauthbearer xoauth2"
# Dovecot submission does not offer ANONYMOUS.
SUBMISSION_MECHANISMS="plain login cram-md5 digest-md5 scram-sha-1 scram-sha-256 external oauthbearer xoauth2"
# What 127.0.0.2 offers before STARTTLS (Dovecot hides its plaintext
# mechanisms; Postfix offers no AUTH at all with smtpd_tls_auth_only).
STRICT_DOVECOT_MECHANISMS="cram-md5 digest-md5 scram-sha-1 scram-sha-256 anonymous external"
STRICT_SUBMISSION_MECHANISMS="cram-md5 digest-md5 scram-sha-1 scram-sha-256 external"
STRICT_POSTFIX_MECHANISMS=""
# The Cyrus SASL listener (Debian libsasl2-modules, users in a sasldb). Cyrus
# realm = the mail domain: DIGEST-MD5 offers it, and user names are looked up
# as user@realm in the sasldb.
CYRUS_MECHANISMS="plain login cram-md5 digest-md5 scram-sha-1 scram-sha-256"
CYRUS_REALM=$DOMAIN

# user|password. `prep` stores the SASLprep'ed form of "I<U+00AD>X" and "<U+2168>".
USERS=(
  "alice|alice-Secret-1"
  "bob|bob-Secret-2"
  "ümlaut|pässwörd-ü"
  "prep|IX"
  "anon|anon-Secret-5"
)
# Internal account Dovecot submission uses to relay through Postfix.
RELAY_USER=saslkit-relay

PID_DOVECOT="$STATE/dovecot/run/master.pid"
PID_POSTFIX="$STATE/postfix/spool/pid/master.pid"
PID_OAUTH="$STATE/oauth/oauth.pid"

# Prints the process state letter (R, S, Z, ...) or nothing if gone.
proc_state() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  printf '%s' "${stat%% *}"
}

# True when PID runs (not a zombie) and its working directory lies in STATE,
# i.e. it is a daemon start.sh started from this state dir, not a PID reused
# by something else.
is_ours() {
  local pid=$1 state cwd
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  state=$(proc_state "$pid")
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] || return 1
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
  [ "$cwd" = "$STATE" ] || [[ "$cwd" == "$STATE/"* ]]
}

# True while something accepts TCP connections on host:port.
port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# All host:port pairs the servers listen on.
all_endpoints() {
  local p
  for p in "${BOTH_HOSTS_PORTS[@]}"; do
    echo "$HOST:$p"
    echo "$STRICT_HOST:$p"
  done
  for p in "${HOST_ONLY_PORTS[@]}"; do echo "$HOST:$p"; done
}

# Prints the endpoints not yet in LISTEN state (ss when available: no
# connection noise in the server logs; else a connect attempt).
endpoints_not_listening() {
  local listening ep
  if command -v ss >/dev/null; then
    listening=$(ss -Hltn 2>/dev/null | awk '{print $4}')
    for ep in $(all_endpoints); do
      grep -qxF "$ep" <<<"$listening" || echo "$ep"
    done
  else
    for ep in $(all_endpoints); do
      port_open "${ep%:*}" "${ep##*:}" || echo "$ep"
    done
  fi
}

endpoints_listening() {
  local missing ep
  missing=$(endpoints_not_listening)
  for ep in $(all_endpoints); do
    grep -qxF "$ep" <<<"$missing" || echo "$ep"
  done
}

# ---- leases (acquire.sh / release.sh) -----------------------------------------
LEASES="$STATE.leases"

# Start time of a process (clock ticks since boot), to tell a reused PID apart.
proc_start() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  awk '{print $20}' <<<"$stat"
}

write_lease() {
  mkdir -p "$LEASES"
  printf '%s %s\n' "$1" "$(proc_start "$1")" >"$LEASES/$1"
}

# Removes leases whose holder is gone (or whose PID now names another process).
prune_leases() {
  local f pid start state
  [ -d "$LEASES" ] || return 0
  for f in "$LEASES"/*; do
    [ -e "$f" ] || continue
    read -r pid start <"$f" || true
    state=$(proc_state "${pid:-0}")
    if [ -z "$state" ] || [ "$state" = Z ] || [ "$(proc_start "$pid")" != "$start" ]; then
      rm -f "$f"
    fi
  done
}

lease_count() {
  local n=0 f
  if [ -d "$LEASES" ]; then
    for f in "$LEASES"/*; do [ -e "$f" ] && n=$((n + 1)); done
  fi
  echo "$n"
}

# True when env.json exists, every daemon from the PID files runs and every
# endpoint listens.
servers_healthy() {
  local f
  [ -s "$STATE/env.json" ] || return 1
  for f in "$PID_DOVECOT" "$PID_POSTFIX" "$PID_OAUTH"; do
    [ -s "$f" ] && is_ours "$(head -n1 "$f" | tr -d ' \n')" || return 1
  done
  [ -z "$(endpoints_not_listening)" ]
}

# Hash of everything that shapes a running instance.
config_hash() {
  cat "$SERVERS_HERE"/templates/* "$SERVERS_HERE/start.sh" "$SERVERS_HERE/common.sh" \
    "$SERVERS_HERE/oauth-introspect.mjs" | sha256sum | cut -d' ' -f1
}
