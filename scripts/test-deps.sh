#!/bin/sh
# Installs the Debian packages the test suite needs, skipping those already installed:
# the gateways of the end-to-end scenarios (nginx, HAProxy, Apache, Caddy; their services are
# not started by the packages, the tests run their own), Chromium for the page tests, and the
# C++ toolchain that better-sqlite3 compiles with during `npm ci`.
# Runs as root, or through sudo when not root. Usage: scripts/test-deps.sh && npm ci && npm test
set -eu

PACKAGES="nginx haproxy apache2 caddy chromium python3 make g++"

missing=""
for pkg in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $pkg"
  fi
done

if [ -z "$missing" ]; then
  echo "test-deps: every package is installed ($PACKAGES)"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1; then
  as_root="sudo"
else
  echo "test-deps: missing:$missing; run this script as root (sudo is not available)" >&2
  exit 1
fi

echo "test-deps: installing$missing"
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086 # one word per package
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
