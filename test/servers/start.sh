#!/usr/bin/env bash
# Starts real Dovecot 2.3 + Postfix 3.7 + an OAuth introspection endpoint on
# loopback high ports for saslkit's integration tests, without systemd.
#
#   SASLKIT_SERVERS_DIR=/tmp/saslkit-servers test/servers/start.sh
#
# Stops a previous instance from the same state dir first, then wipes that
# dir (only if it holds start.sh's marker or is empty), generates a test CA
# and certificates, writes configs from templates/, starts the daemons with
# their stdio in log files, waits until every port listens and writes
# $STATE/env.json (see README.md). Run install.sh first.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE=$SERVERS_HERE
START_TIMEOUT=${SASLKIT_SERVERS_START_TIMEOUT:-20}

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    exec sudo -n env SASLKIT_SERVERS_DIR="$STATE" SASLKIT_SERVERS_PORT_BASE="$PORT_BASE" "$0" "$@"
  fi
  echo "start.sh: must run as root (Postfix's master and Dovecot need it)" >&2
  exit 1
fi

for cmd in dovecot postfix saslpasswd2 openssl node; do
  command -v "$cmd" >/dev/null || { echo "start.sh: $cmd not found; run test/servers/install.sh" >&2; exit 1; }
done

mkdir -p "$(dirname "$STATE")"
if [ -z "${SASLKIT_SERVERS_LOCKED:-}" ]; then # else acquire.sh holds the lock
  exec 9>"$LOCK_FILE"
  if ! flock -w 60 9; then
    echo "start.sh: another start/stop holds $LOCK_FILE" >&2
    exit 1
  fi
  export SASLKIT_SERVERS_LOCKED=1
fi

# ---- stop the previous instance, make sure the ports are free ---------------
"$HERE/stop.sh"

deadline=$((SECONDS + 5))
while busy=$(endpoints_listening) && [ -n "$busy" ]; do
  if [ $SECONDS -ge $deadline ]; then
    echo "start.sh: ports in use by something start.sh did not start from $STATE: $(echo $busy)" >&2
    ports_re=$(IFS="|"; echo "${BOTH_HOSTS_PORTS[*]}|${HOST_ONLY_PORTS[*]}")
    ss -ltnp 2>/dev/null | grep -E ":($ports_re)\b" >&2 || true
    echo "start.sh: stop that instance (its own stop.sh / SASLKIT_SERVERS_DIR) and retry" >&2
    exit 1
  fi
  sleep 0.1
done

# ---- fresh state dir -----------------------------------------------------------
if [ -d "$STATE" ] && [ -n "$(ls -A "$STATE")" ] && [ ! -e "$MARKER" ]; then
  echo "start.sh: $STATE exists, is not empty and was not made by start.sh; refusing to wipe it" >&2
  exit 1
fi
rm -rf "$STATE"
mkdir -p "$STATE"/{tls,dovecot/etc,dovecot/run,dovecot/lib,postfix/etc/sasl,postfix/spool,postfix/data,cyrus,oauth,log,mail}
echo "state dir of test/servers/start.sh; wiped on every start" >"$MARKER"
chmod 755 "$STATE" "$STATE"/{tls,dovecot,dovecot/etc,postfix,oauth,log,mail}
chown postfix: "$STATE/postfix/data"
LOG="$STATE/log"
# dovecot-lda runs as the mail user and appends to the Dovecot log.
install -m 664 -o root -g mail /dev/null "$LOG/dovecot.log"
# Postfix's maillog_file: postlogd (root) appends to it, and so does postsuper, as Postfix's
# mail_owner, when it has something to say while Postfix is down (the queue check of
# `postfix start` after a crash). A root-owned file made that start fail: "postsuper: fatal:
# open logfile ... Permission denied".
install -m 644 -o postfix -g postfix /dev/null "$LOG/postfix.log"

MAIL_UID=$(id -u mail)
MAIL_GID=$(id -g mail)

# ---- TLS: test CA, server cert (localhost, 127.0.0.1, 127.0.0.2), client cert alice
gen_tls() {
  local d="$STATE/tls"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$d/ca-key.pem" -out "$d/ca.pem" -days 3650 \
    -subj "/O=saslkit tests/CN=saslkit test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:$TLS_SERVER_NAME,IP:$HOST,IP:$STRICT_HOST" \
    "authorityKeyIdentifier=keyid" >"$d/server.ext"
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth" "authorityKeyIdentifier=keyid" >"$d/client.ext"
  openssl req -new "${ec[@]}" -keyout "$d/server-key.pem" -out "$d/server.csr" \
    -subj "/O=saslkit tests/CN=$TLS_SERVER_NAME" 2>/dev/null
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -set_serial "0x$(openssl rand -hex 8)" \
    -days 825 -sha256 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
  openssl req -new "${ec[@]}" -keyout "$d/client-alice-key.pem" -out "$d/client-alice.csr" \
    -subj "/O=saslkit tests/CN=alice" 2>/dev/null
  openssl x509 -req -in "$d/client-alice.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -set_serial "0x$(openssl rand -hex 8)" \
    -days 825 -sha256 -extfile "$d/client.ext" -out "$d/client-alice.pem" 2>/dev/null
  rm -f "$d"/*.csr "$d"/*.ext
  chmod 644 "$d"/*.pem
}

# ---- configs from templates ------------------------------------------------------
sed_escape() { printf '%s' "$1" | sed -e 's/[\/&|]/\\&/g'; }
render() { # template output
  local args=() kv
  for kv in "${SUBST[@]}"; do
    args+=(-e "s|@${kv%%=*}@|$(sed_escape "${kv#*=}")|g")
  done
  sed "${args[@]}" "$1" >"$2"
  if grep -q '@[A-Z_]*@' "$2"; then
    echo "start.sh: unfilled placeholder in $2:" >&2
    grep -n '@[A-Z_]*@' "$2" >&2
    return 1
  fi
}

RELAY_PASSWORD=$(openssl rand -hex 16)
SSL_DH=/usr/share/dovecot/dh.pem
SUBST=(
  "STATE=$STATE" "HOST=$HOST" "STRICT_HOST=$STRICT_HOST" "HOSTNAME=$MAIL_HOSTNAME" "DOMAIN=$DOMAIN"
  "SMTP_PORT=$SMTP_PORT" "SMTPS_PORT=$SMTPS_PORT" "SUBMISSION_PORT=$SUBMISSION_PORT"
  "IMAP_PORT=$IMAP_PORT" "IMAPS_PORT=$IMAPS_PORT" "POP3_PORT=$POP3_PORT" "POP3S_PORT=$POP3S_PORT"
  "OAUTH_PORT=$OAUTH_PORT" "MESSAGE_SIZE_LIMIT=$MESSAGE_SIZE_LIMIT"
  "MAIL_UID=$MAIL_UID" "MAIL_GID=$MAIL_GID" "SSL_DH=$SSL_DH"
  "DOVECOT_MECHANISMS=$DOVECOT_MECHANISMS" "AUTH_DEBUG=${SASLKIT_SERVERS_AUTH_DEBUG:-no}"
  "RELAY_USER=$RELAY_USER" "RELAY_PASSWORD=$RELAY_PASSWORD"
  "CYRUS_SMTP_PORT=$CYRUS_SMTP_PORT" "CYRUS_REALM=$CYRUS_REALM" "CYRUS_MECH_LIST=${CYRUS_MECHANISMS^^}"
)

write_configs() {
  local T="$HERE/templates" entry user pass
  render "$T/dovecot.conf.in" "$STATE/dovecot/etc/dovecot.conf"
  render "$T/dovecot-oauth2.conf.ext.in" "$STATE/dovecot/etc/oauth2.conf.ext"
  render "$T/postfix-main.cf.in" "$STATE/postfix/etc/main.cf"
  render "$T/postfix-master.cf.in" "$STATE/postfix/etc/master.cf"
  render "$T/cyrus-smtpd.conf.in" "$STATE/postfix/etc/sasl/smtpd.conf"

  : >"$STATE/dovecot/etc/users"
  : >"$STATE/postfix/etc/vmailbox"
  printf '%s@%s\tdovecot-lda:\n' "ümlaut" "$DOMAIN" >"$STATE/postfix/etc/transport"
  for entry in "${USERS[@]}"; do
    user=${entry%%|*}
    pass=${entry#*|}
    printf '%s:{PLAIN}%s::::::\n' "$user" "$pass" >>"$STATE/dovecot/etc/users"
    printf '%s' "$pass" | saslpasswd2 -p -c -f "$STATE/cyrus/sasldb2" -u "$CYRUS_REALM" "$user"
    printf '%s@%s\t%s/\n' "$user" "$DOMAIN" "$user" >>"$STATE/postfix/etc/vmailbox"
    # Pre-created world-readable: Dovecot copies the mode to new files, so
    # tests need not be root to read delivered messages.
    install -d -o mail -g mail -m 755 "$STATE/mail/$user" "$STATE/mail/$user/Maildir" \
      "$STATE/mail/$user/Maildir/new" "$STATE/mail/$user/Maildir/cur" "$STATE/mail/$user/Maildir/tmp"
  done
  printf '%s:{PLAIN}%s::::::\n' "$RELAY_USER" "$RELAY_PASSWORD" >>"$STATE/dovecot/etc/users"
  chown root:dovecot "$STATE/dovecot/etc/users" "$STATE/dovecot/etc/oauth2.conf.ext"
  chmod 640 "$STATE/dovecot/etc/users"
  # Postfix's smtpd (user postfix) reads the sasldb and the Cyrus config.
  chown root:postfix "$STATE/cyrus/sasldb2"
  chmod 640 "$STATE/cyrus/sasldb2"
  chmod 644 "$STATE/postfix/etc/sasl/smtpd.conf"
  # dovecot-lda runs as the mail user and reads the config.
  chmod 644 "$STATE/dovecot/etc/dovecot.conf" "$STATE/dovecot/etc/oauth2.conf.ext"

  printf '{"tok-alice-valid":"alice","tok-bob-valid":"bob"}\n' >"$STATE/oauth/tokens.json"
  # postfix start waits while main.cf is younger than a couple of seconds
  # (servers.md gotcha 13): back-date the files.
  touch -d '-1 minute' "$STATE"/postfix/etc/*
}

# ---- failure report ---------------------------------------------------------------
fail() {
  echo "start.sh: $*" >&2
  local f
  for f in "$LOG"/*.log; do
    [ -s "$f" ] || continue
    echo "----- $f (last 40 lines) -----" >&2
    tail -n 40 "$f" >&2
  done
  "$HERE/stop.sh" >&2 || true
  exit 1
}

START_MS=$(date +%s%3N)
gen_tls
write_configs

# ---- start ---------------------------------------------------------------------------
# Every daemon gets its stdio redirected to a log file (gotcha 14) and runs
# with its working directory inside the state dir (stop.sh checks that).
(
  cd "$STATE/oauth"
  exec setsid node "$HERE/oauth-introspect.mjs" --host "$HOST" --port "$OAUTH_PORT" \
    --tokens "$STATE/oauth/tokens.json" --pid-file "$PID_OAUTH" </dev/null >>"$LOG/oauth.log" 2>&1 9>&-
) &

# Postfix prints fatal errors to stderr only on a tty, hence script(1).
(
  cd "$STATE/postfix"
  exec script -qec "SASLKIT_SERVERS_DIR='$STATE' SASLKIT_SERVERS_PORT_BASE='$PORT_BASE' '$HERE/postfix-ctl.sh' start" /dev/null \
    </dev/null >"$LOG/postfix-start.log" 2>&1 9>&-
) &
postfix_job=$!

if ! (cd "$STATE/dovecot/run" && setsid dovecot -c "$STATE/dovecot/etc/dovecot.conf" </dev/null >>"$LOG/dovecot-start.log" 2>&1 9>&-); then
  wait "$postfix_job" || true
  fail "dovecot did not start"
fi
if ! wait "$postfix_job"; then
  fail "postfix did not start"
fi

deadline=$((SECONDS + START_TIMEOUT))
while missing=$(endpoints_not_listening) && [ -n "$missing" ]; do
  if [ $SECONDS -ge $deadline ]; then
    fail "not listening after ${START_TIMEOUT}s: $(echo $missing)"
  fi
  sleep 0.05
done
for sock in "$STATE/dovecot/run/lmtp" "$STATE/dovecot/run/auth-postfix"; do
  [ -S "$sock" ] || fail "socket $sock missing"
done
for f in "$PID_DOVECOT" "$PID_POSTFIX" "$PID_OAUTH"; do
  [ -s "$f" ] || fail "PID file $f missing"
done

# ---- env.json ------------------------------------------------------------------------
users_json=""
for entry in "${USERS[@]}"; do
  users_json+="${entry}"$'\n'
done
export SASLKIT_USERS="$users_json" STATE HOST STRICT_HOST TLS_SERVER_NAME MAIL_HOSTNAME DOMAIN \
  SMTP_PORT SMTPS_PORT SUBMISSION_PORT IMAP_PORT IMAPS_PORT POP3_PORT POP3S_PORT OAUTH_PORT \
  PORT_BASE DOVECOT_MECHANISMS POSTFIX_MECHANISMS SUBMISSION_MECHANISMS STRICT_DOVECOT_MECHANISMS \
  STRICT_SUBMISSION_MECHANISMS STRICT_POSTFIX_MECHANISMS MESSAGE_SIZE_LIMIT START_MS \
  CYRUS_SMTP_PORT CYRUS_REALM CYRUS_MECHANISMS
node --input-type=module - >"$STATE/env.json.tmp" <<'EOF'
const e = process.env;
const users = {};
for (const line of e.SASLKIT_USERS.split('\n').filter(Boolean)) {
  const i = line.indexOf('|');
  const user = line.slice(0, i);
  users[user] = { user, password: line.slice(i + 1), address: `${user}@${e.DOMAIN}` };
}
// The stored password of prep is the SASLprep output of these.
users.prep.saslprepPasswords = ['I\u00ADX', '\u2168'];
const upper = (s) => s.split(' ').filter(Boolean).map((m) => m.toUpperCase());
const state = e.STATE;
const env = {
  version: 1,
  stateDir: state,
  caFile: `${state}/tls/ca.pem`,
  serverCert: { cert: `${state}/tls/server.pem`, key: `${state}/tls/server-key.pem` },
  clientCert: { cert: `${state}/tls/client-alice.pem`, key: `${state}/tls/client-alice-key.pem`, user: 'alice' },
  host: e.HOST,
  strictHost: e.STRICT_HOST,
  tlsServerName: e.TLS_SERVER_NAME,
  hostname: e.MAIL_HOSTNAME,
  domain: e.DOMAIN,
  portBase: Number(e.PORT_BASE),
  smtp: { port: Number(e.SMTP_PORT), tlsPort: Number(e.SMTPS_PORT) },
  submission: { port: Number(e.SUBMISSION_PORT) },
  cyrusSmtp: { port: Number(e.CYRUS_SMTP_PORT), realm: e.CYRUS_REALM },
  imap: { port: Number(e.IMAP_PORT), tlsPort: Number(e.IMAPS_PORT) },
  pop3: { port: Number(e.POP3_PORT), tlsPort: Number(e.POP3S_PORT) },
  oauth: {
    introspectPort: Number(e.OAUTH_PORT),
    introspectUrl: `http://${e.HOST}:${e.OAUTH_PORT}/introspect`,
    tokens: { alice: 'tok-alice-valid', bob: 'tok-bob-valid' },
    invalidToken: 'tok-invalid',
  },
  users,
  mechanisms: {
    dovecot: upper(e.DOVECOT_MECHANISMS),
    submission: upper(e.SUBMISSION_MECHANISMS),
    postfix: upper(e.POSTFIX_MECHANISMS),
    cyrus: upper(e.CYRUS_MECHANISMS),
  },
  strictMechanismsBeforeTls: {
    dovecot: upper(e.STRICT_DOVECOT_MECHANISMS),
    submission: upper(e.STRICT_SUBMISSION_MECHANISMS),
    postfix: upper(e.STRICT_POSTFIX_MECHANISMS),
  },
  messageSizeLimit: Number(e.MESSAGE_SIZE_LIMIT),
  maildir: `${state}/mail/%u/Maildir`,
  logs: {
    dovecot: `${state}/log/dovecot.log`,
    postfix: `${state}/log/postfix.log`,
    oauth: `${state}/log/oauth.log`,
  },
  startedAt: Number(e.START_MS),
};
process.stdout.write(JSON.stringify(env, null, 2) + '\n');
EOF
config_hash >"$STATE/.config-hash"
chmod 644 "$STATE/env.json.tmp"
mv "$STATE/env.json.tmp" "$STATE/env.json"
echo "start.sh: servers up; $STATE/env.json"
