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
# psycopg2 lets a benchmark run Synapse on PostgreSQL, as production does (bench/moderation.py --synapse-db);
# the stamp names it so that an install from before it was added is redone.
stamp="$version with psycopg2"

if [ -f "$dest/.installed" ] && [ "$(cat "$dest/.installed")" = "$stamp" ]; then
  exit 0
fi
start=$(date +%s)
rm -rf "$dest/venv" "$dest/.installed"
mkdir -p "$dest"
"$python" -m venv "$dest/venv"
"$dest/venv/bin/pip" install --quiet --disable-pip-version-check -c "$constraints" "matrix-synapse==$version" psycopg2-binary
echo "$stamp" > "$dest/.installed"
echo "Synapse $version installed in $dest/venv in $(( $(date +%s) - start )) s"
