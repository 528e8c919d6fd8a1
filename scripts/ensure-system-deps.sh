#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing: chromium (real-browser tests) and
# docker-compose (validates docker-compose.yml), a CJK font for legible screenshots, and GStreamer's webrtcbin
# with python3-gi (an independent WebRTC stack for the interop tests, run by Debian's /usr/bin/python3).
# Idempotent: does nothing when all are present.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
# A CJK font so screenshots of the (Chinese by default) client are legible to the people reviewing them.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
# GStreamer webrtcbin (VP8, H264 via x264/libav, Opus, libnice) for tests/test_interop_gstreamer.py.
/usr/bin/python3 -c 'import gi; gi.require_version("GstWebRTC", "1.0"); gi.require_version("GstSdp", "1.0"); gi.require_version("Nice", "0.1")' \
  >/dev/null 2>&1 && [ -e /usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstnice.so ] \
  && [ -e /usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstx264.so ] \
  || need+=(gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
            gstreamer1.0-libav gstreamer1.0-nice gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0
            gir1.2-nice-0.1 python3-gi python3-gst-1.0)
# Janus (videoroom), the comparison server of `python -m bench.sfu --vs-janus`: opt-in, the tests do not need it.
if [ "${WITH_JANUS:-0}" = "1" ]; then
  command -v janus >/dev/null 2>&1 || [ -x /usr/bin/janus ] || need+=(janus)
fi
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
