#!/usr/bin/env bash
# The Debian packages the test suite needs, installed when missing (make test runs this first).
# Idempotent: when both are present it only checks and returns (no apt-get at all).
#   postgresql  the PostgreSQL registry/ledger tests start a throwaway cluster of their own from its
#               server binaries (tests/pg_server.py); Debian's default cluster is not wanted, so
#               services may not start during the install (policy-rc.d).
#   chromium    tests/test_dashboard.py drives it through Playwright's executable_path
#               (Playwright never downloads a browser here).
set -euo pipefail

missing=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "the tests need these Debian packages: ${missing[*]}; install them as root:" >&2
  echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "installing test system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
added_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${as_root[@]}" chmod +x /usr/sbin/policy-rc.d
  added_policy=1
fi
cleanup() { if [ -n "$added_policy" ]; then "${as_root[@]}" rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
