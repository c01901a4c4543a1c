#!/usr/bin/env bash
# Install Synapse (the Matrix reference homeserver) into its own virtualenv, for the connector tests.
#
# Usage: scripts/servers/install-synapse.sh DEST
#   DEST/venv      the virtualenv (never the project's: Synapse pins dozens of libraries of its own)
#   DEST/.installed  written last, holding the installed version; its presence means "ready"
#
# Idempotent: does nothing when DEST/.installed matches the pinned version. The caller holds a lock so that
# two test workers never install at the same time (tests/servers/base.py). Only PyPI is contacted.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${1:?usage: install-synapse.sh DEST}"
python="${PYTHON:-python3}"
constraints="$here/synapse-constraints.txt"
version="$(sed -n "s/^matrix-synapse==//p" "$constraints")"

if [ -f "$dest/.installed" ] && [ "$(cat "$dest/.installed")" = "$version" ]; then
  exit 0
fi
start=$(date +%s)
rm -rf "$dest/venv" "$dest/.installed"
mkdir -p "$dest"
"$python" -m venv "$dest/venv"
"$dest/venv/bin/pip" install --quiet --disable-pip-version-check -c "$constraints" "matrix-synapse==$version"
echo "$version" > "$dest/.installed"
echo "Synapse $version installed in $dest/venv in $(( $(date +%s) - start )) s"
