#!/usr/bin/env bash
# Debian packages the tests need beyond Python and npm: chromium (the viewer
# is tested in a real browser) and docker-compose (validates docker-compose.yml;
# no Docker engine is needed). Without root the tests that need them skip.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: not root; missing ${missing[*]} (the tests that need them will skip)" >&2
  exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
