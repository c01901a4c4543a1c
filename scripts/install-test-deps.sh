#!/usr/bin/env bash
# Install the system packages the test suite needs, when missing: Debian's Chromium for Playwright.
# As root (CI, these machines) it installs; otherwise it says what to install and the browser tests skip.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing test dependencies: ${need[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "!!! Missing system packages for browser tests: ${need[*]} (apt-get install ${need[*]}); those tests will skip." >&2
fi
