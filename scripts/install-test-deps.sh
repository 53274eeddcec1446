#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: the Python package with
# its dev extras, and the real services/browsers the tests drive (never a downloaded
# browser: Debian's chromium). Safe to run again; skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# PostgreSQL server binaries: the tests start clusters of their own with initdb/pg_ctl (tests/pg.py).
{ command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; } \
  || need_apt+=(postgresql)
# nginx: the deploy tests run the shipped proxy config for real in front of two nodes.
[ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
# poppler-utils: the report PDF tests render pages with pdftoppm.
command -v pdftoppm >/dev/null 2>&1 || need_apt+=(poppler-utils)
# coturn: the consult page's TURN check runs against a real TURN server of the test's own.
command -v turnserver >/dev/null 2>&1 || need_apt+=(coturn)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
fc-list 2>/dev/null | grep -qi "wqy\|noto sans cjk" || need_apt+=(fonts-wqy-microhei)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
"${PYTHON:-python3}" -m pip install -q --disable-pip-version-check -e '.[dev]'
