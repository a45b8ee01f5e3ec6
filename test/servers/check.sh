#!/usr/bin/env bash
# Smoke check of the servers start.sh runs, with independent clients:
#   1. openssl s_client: certificates, STARTTLS, implicit TLS, TLS >= 1.2;
#   2. GNU gsasl as a network client (--smtp / --imap) for every mechanism
#      it has, on Postfix, Dovecot submission and IMAP;
#   3. check.py (Python stdlib only): every mechanism on every listener
#      including POP3, OAuth, the strict 127.0.0.2 listeners, mail delivery.
# Usage: test/servers/check.sh [--start]   (--start runs install.sh + start.sh first)
# Prints 'N passed, N failed'; exits 1 on any failure.
set -uo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ "${1:-}" = "--start" ]; then
  "$SERVERS_HERE/install.sh" && "$SERVERS_HERE/start.sh" || exit 1
fi
[ -f "$STATE/env.json" ] || { echo "check.sh: $STATE/env.json missing; run start.sh" >&2; exit 1; }

TLS="$STATE/tls"
CA="$TLS/ca.pem"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok    $*"; }
bad() { failed=$((failed + 1)); echo "FAIL  $*"; }

# ---- 1. TLS with openssl s_client -----------------------------------------------
tls_check() { # name, then s_client args
  local name=$1 out
  shift
  out=$(timeout 10 openssl s_client -brief -verify_return_error -CAfile "$CA" -verify_hostname "$TLS_SERVER_NAME" "$@" </dev/null 2>&1 | tr -d '\0')
  if grep -q 'Verification: OK' <<<"$out" && grep -qE 'Protocol version: TLSv1\.[23]' <<<"$out"; then
    ok "TLS $name ($(grep -o 'Protocol version: .*' <<<"$out"))"
  else
    bad "TLS $name: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
  fi
}
for h in "$HOST" "$STRICT_HOST"; do
  tls_check "smtp STARTTLS $h:$SMTP_PORT" -connect "$h:$SMTP_PORT" -starttls smtp
  tls_check "smtps $h:$SMTPS_PORT" -connect "$h:$SMTPS_PORT"
  tls_check "submission STARTTLS $h:$SUBMISSION_PORT" -connect "$h:$SUBMISSION_PORT" -starttls smtp
  tls_check "imap STARTTLS $h:$IMAP_PORT" -connect "$h:$IMAP_PORT" -starttls imap
  tls_check "imaps $h:$IMAPS_PORT" -connect "$h:$IMAPS_PORT"
  tls_check "pop3 STLS $h:$POP3_PORT" -connect "$h:$POP3_PORT" -starttls pop3
  tls_check "pop3s $h:$POP3S_PORT" -connect "$h:$POP3S_PORT"
done
tls_check "imaps with alice's client certificate" -connect "$HOST:$IMAPS_PORT" \
  -cert "$TLS/client-alice.pem" -key "$TLS/client-alice-key.pem"
if timeout 10 openssl s_client -connect "$HOST:$IMAPS_PORT" -tls1_1 </dev/null >/dev/null 2>&1; then
  bad "imaps accepted TLS 1.1"
else
  ok "imaps refuses TLS 1.1"
fi
if openssl verify -CAfile "$CA" "$TLS/server.pem" "$TLS/client-alice.pem" >/dev/null &&
  openssl x509 -in "$TLS/server.pem" -noout -ext subjectAltName | grep -q 'IP Address:127.0.0.2' &&
  openssl x509 -in "$TLS/client-alice.pem" -noout -subject | grep -q 'CN = alice'; then
  ok "certificates: chain, SAN, client CN"
else
  bad "certificates: chain, SAN or client CN wrong"
fi

# ---- 2. gsasl as network client -------------------------------------------------------
# servers.md gotchas 8-9: --no-client-first for IMAP, --no-cb for SCRAM over
# TLS, every property on the command line (else gsasl prompts on stdin).
gsasl_run() { # expect(0|1) name proto host:port mech [extra args...]
  local expect=$1 name=$2 proto=$3 ep=$4 mech=$5
  shift 5
  local args=(--"$proto" --connect="$ep" -m "$mech" --x509-ca-file="$CA" --no-cb --quiet
    --realm= --hostname="$TLS_SERVER_NAME" --service="$proto" --quality-of-protection=qop-auth)
  [ "$proto" = imap ] && args+=(--no-client-first)
  local out rc
  out=$(timeout 15 gsasl "${args[@]}" "$@" </dev/null 2>&1)
  rc=$?
  # gsasl 2.2 exits 0 when the server offers no usable mechanism.
  if [ $rc -eq 0 ] && grep -q 'Cannot find mechanism' <<<"$out"; then rc=1; fi
  if { [ "$expect" = 0 ] && [ $rc -eq 0 ]; } || { [ "$expect" = 1 ] && [ $rc -ne 0 ] && [ $rc -ne 124 ]; }; then
    ok "gsasl $name"
  else
    bad "gsasl $name (exit $rc): $(tail -n 2 <<<"$out" | tr '\n' ' ')"
  fi
}

for svc in "smtp:$SMTP_PORT:smtp" "submission:$SUBMISSION_PORT:smtp" "imap:$IMAP_PORT:imap"; do
  IFS=: read -r name port proto <<<"$svc"
  ep="$HOST:$port"
  for mech in PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256; do
    gsasl_run 0 "$name $mech alice" "$proto" "$ep" "$mech" -a alice -p alice-Secret-1
  done
  for mech in PLAIN SCRAM-SHA-256; do
    gsasl_run 0 "$name $mech ümlaut" "$proto" "$ep" "$mech" -a 'ümlaut' -p 'pässwörd-ü'
  done
  gsasl_run 0 "$name SCRAM-SHA-256 prep with U+2168 (gsasl SASLpreps)" "$proto" "$ep" SCRAM-SHA-256 -a prep -p $'\u2168'
  gsasl_run 0 "$name SCRAM-SHA-1 prep with I U+00AD X" "$proto" "$ep" SCRAM-SHA-1 -a prep -p $'I\u00adX'
  gsasl_run 1 "$name SCRAM-SHA-256 wrong password fails" "$proto" "$ep" SCRAM-SHA-256 -a alice -p wrong
  gsasl_run 1 "$name CRAM-MD5 wrong password fails" "$proto" "$ep" CRAM-MD5 -a bob -p wrong
  if [ "$name" != submission ]; then
    gsasl_run 0 "$name ANONYMOUS" "$proto" "$ep" ANONYMOUS -n someone@example.org
  fi
  if [ "$name" != smtp ]; then
    gsasl_run 0 "$name EXTERNAL with alice's certificate" "$proto" "$ep" EXTERNAL -a '' \
      --x509-cert-file="$TLS/client-alice.pem" --x509-key-file="$TLS/client-alice-key.pem"
  fi
done
gsasl_run 0 "strict imap PLAIN after STARTTLS" imap "$STRICT_HOST:$IMAP_PORT" PLAIN -a alice -p alice-Secret-1
gsasl_run 1 "strict imap PLAIN without STARTTLS fails" imap "$STRICT_HOST:$IMAP_PORT" PLAIN -a alice -p alice-Secret-1 --no-starttls
gsasl_run 0 "strict smtp PLAIN after STARTTLS" smtp "$STRICT_HOST:$SMTP_PORT" PLAIN -a alice -p alice-Secret-1
gsasl_run 1 "strict smtp PLAIN without STARTTLS fails" smtp "$STRICT_HOST:$SMTP_PORT" PLAIN -a alice -p alice-Secret-1 --no-starttls
gsasl_run 0 "lenient smtp PLAIN without STARTTLS" smtp "$HOST:$SMTP_PORT" PLAIN -a alice -p alice-Secret-1 --no-starttls

# ---- 3. Python: all listeners, POP3, OAuth, delivery ----------------------------------
py_out=$(SASLKIT_SERVERS_DIR="$STATE" python3 "$SERVERS_HERE/check.py")
py_rc=$?
grep -v '^[0-9]* passed, [0-9]* failed$' <<<"$py_out" | sed 's/^ok    /ok    py: /; s/^FAIL  /FAIL  py: /'
py_passed=$(grep -c '^ok ' <<<"$py_out")
py_failed=$(grep -c '^FAIL ' <<<"$py_out")
passed=$((passed + py_passed))
failed=$((failed + py_failed))
if [ $py_rc -ne 0 ] && [ "$py_failed" -eq 0 ]; then
  bad "check.py exited $py_rc"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
