#!/usr/bin/env bash
# Install Dovecot (IMAP + LMTP) from Debian's packages, for the email connector's tests.
#
# Usage: scripts/servers/install-dovecot.sh DEST
#   DEST/.installed  written last, holding the installed Dovecot version; its presence means "ready"
#
# The tests never use the system's Dovecot service or /etc/dovecot: they start their own unprivileged
# instance from tests/servers/templates/dovecot.conf. So the install must not start a daemon either: while
# apt-get runs, a policy-rc.d that refuses every start is put in place (when the machine has none already).
#
# Idempotent: does nothing when the binaries are there and DEST/.installed matches their version. The caller
# holds a lock so that two test workers never install at the same time (tests/servers/base.py). Only the
# Debian archive is contacted, and only when something is missing.
set -euo pipefail
dest="${1:?usage: install-dovecot.sh DEST}"
packages=(dovecot-core dovecot-imapd dovecot-lmtpd)

installed_version() {
  if command -v dovecot >/dev/null && [ -x /usr/lib/dovecot/imap ] && [ -x /usr/lib/dovecot/lmtp ]; then
    dovecot --version
  fi
}

version="$(installed_version)"
if [ -n "$version" ] && [ -f "$dest/.installed" ] && [ "$(cat "$dest/.installed")" = "$version" ]; then
  exit 0
fi
mkdir -p "$dest"
if [ -z "$version" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Dovecot is not installed and this is not root: run 'apt-get install ${packages[*]}' as root." >&2
    exit 1
  fi
  command -v apt-get >/dev/null || { echo "no apt-get: install ${packages[*]} with your package manager" >&2; exit 1; }
  start=$(date +%s)
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# installed by install-dovecot.sh while apt-get runs: start no daemon\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}"
  version="$(installed_version)"
  [ -n "$version" ] || { echo "apt-get finished but dovecot, imap or lmtp is missing" >&2; exit 1; }
  echo "Dovecot $version installed from Debian in $(( $(date +%s) - start )) s"
fi
echo "$version" > "$dest/.installed"
