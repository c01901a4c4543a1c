#!/usr/bin/env bash
# Install Anope (IRC services: NickServ, SASL) from Debian's packages, for the IRC connector's login tests.
#
# Usage: scripts/servers/install-anope.sh DEST
#   DEST/.installed  written last, holding the installed version; its presence means "ready"
#
# Idempotent: does nothing when the anope binary is already there. The caller holds a lock so that two test
# workers never install at the same time (tests/servers/base.py). Only Debian's archive is contacted, with
# apt-get as root; the package's own service is never started (the tests start their own, linked to their
# own InspIRCd on the loopback: tests/servers/anope.py).
set -euo pipefail
dest="${1:?usage: install-anope.sh DEST}"
mkdir -p "$dest"

installed_version() { dpkg-query -W -f='${Version}' anope 2>/dev/null || true; }

if [ ! -x /usr/sbin/anope ]; then
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "anope is not installed and this is not root on a Debian-like system: apt-get install anope" >&2
    exit 1
  fi
  start=$(date +%s)
  export DEBIAN_FRONTEND=noninteractive
  # The package lists may be missing (fresh container) or stale: refresh them only when the package is unknown.
  apt-cache show anope >/dev/null 2>&1 || apt-get update -qq
  apt-get install -y -qq --no-install-recommends anope
  if [ -d /run/systemd/system ]; then
    systemctl disable --now anope >/dev/null 2>&1 || true  # the package's own services: not wanted here
  fi
  echo "Anope $(installed_version) installed in $(( $(date +%s) - start )) s"
fi
installed_version > "$dest/.installed"
