#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing: chromium (real-browser tests) and
# docker-compose (validates docker-compose.yml), and a CJK font for legible screenshots. Idempotent: does nothing when both are present.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
# A CJK font so screenshots of the (Chinese by default) client are legible to the people reviewing them.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
if ((${#need[@]} == 0)); then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "installing from Debian: ${need[*]} (one time)..." >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${need[@]}"; then
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${need[@]}"
fi
