#!/usr/bin/env bash
# Install the system packages the test suite needs, when missing: Debian's Chromium for Playwright, Pango for
# weasyprint's PDF reports, poppler-utils to look at their pages.
# As root (CI, these machines) it installs; otherwise it says what to install and the browser tests skip.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# PDF reports (weasyprint) need Pango; the report tests look at the PDF pages with pdftoppm (poppler-utils).
ldconfig -p 2>/dev/null | grep libpangoft2-1.0 >/dev/null || need+=(libpango-1.0-0 libpangoft2-1.0-0)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
# The catalogue test compiles every .po with msgfmt --check (gettext; `make messages` needs it too).
command -v msgfmt >/dev/null 2>&1 || need+=(gettext)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing test dependencies: ${need[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "!!! Missing system packages for browser tests: ${need[*]} (apt-get install ${need[*]}); those tests will skip." >&2
fi
