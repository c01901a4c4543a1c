#!/usr/bin/env bash
# Install InspIRCd (the IRC server the IRC connector's tests run against) from Debian's packages.
#
# Usage: scripts/servers/install-inspircd.sh DEST
#   DEST/.installed  written last, holding the installed version; its presence means "ready"
#
# Idempotent: does nothing when the inspircd binary is already there. The caller holds a lock so that two
# test workers never install at the same time (tests/servers/base.py). Only Debian's archive is contacted,
# with apt-get as root; the package's own service is never started (the tests start their own server on a
# free loopback port, with their own configuration: tests/servers/inspircd.py).
set -euo pipefail
dest="${1:?usage: install-inspircd.sh DEST}"
mkdir -p "$dest"

installed_version() { dpkg-query -W -f='${Version}' inspircd 2>/dev/null || true; }

if ! command -v inspircd >/dev/null 2>&1 && [ ! -x /usr/sbin/inspircd ]; then
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "inspircd is not installed and this is not root on a Debian-like system: apt-get install inspircd" >&2
    exit 1
  fi
  start=$(date +%s)
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the package's own daemon from starting where one is configured; without systemd
  # running (containers, CI) nothing starts anyway.
  apt-get install -y -qq --no-install-recommends inspircd
  if [ -d /run/systemd/system ]; then
    systemctl disable --now inspircd >/dev/null 2>&1 || true  # the package's own server: not wanted here
  fi
  echo "InspIRCd $(installed_version) installed in $(( $(date +%s) - start )) s"
fi
installed_version > "$dest/.installed"
