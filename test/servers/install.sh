#!/usr/bin/env bash
# Installs the Debian 12 packages the integration tests run as real peers:
# Postfix, Dovecot (imap, pop3, submission, lmtp), Cyrus SASL (sasldb tools and
# mechanism plugins), GNU gsasl and openssl.
# Idempotent: exits at once when every package is already installed.
# Never starts the packages' system-wide services (policy-rc.d 101).
set -euo pipefail

PACKAGES=(postfix dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond
          dovecot-lmtpd sasl2-bin libsasl2-modules gsasl openssl ca-certificates)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install.sh: not root and no sudo" >&2; exit 1; }
  SUDO=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive

echo "install.sh: installing ${missing[*]}" >&2

# Postfix asks how to configure itself; we configure our own instance.
echo "postfix postfix/main_mailer_type select No configuration" | "${SUDO[@]}" debconf-set-selections

# Keep the packages' init scripts from starting system-wide daemons on the
# standard ports. Only when no policy-rc.d exists, and removed afterwards.
POLICY=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
  if [ "$created_policy" = 1 ]; then "${SUDO[@]}" rm -f "$POLICY"; fi
}
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  created_policy=1
fi

apt_install() {
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold "${missing[@]}"
}

lists_empty=1
if compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then lists_empty=0; fi
if [ "$lists_empty" = 1 ]; then
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
fi
if ! apt_install; then
  echo "install.sh: install failed, refreshing package lists and retrying" >&2
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  apt_install
fi
