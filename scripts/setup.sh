#!/usr/bin/env bash
# Installs what BeatSync needs on a fresh Debian machine: ffmpeg (system), Chromium and a CJK font (browser tests),
# then the project's npm packages, which bring Node 24 into node_modules (the system node is left alone), and builds
# the web page into dist/web, so that `npx beatsync serve` serves it at / right after install.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
if [ "${BEATSYNC_SKIP_BROWSER:-}" != "1" ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # A CJK font (~1.6 MB), or Chinese text renders as empty boxes in the browser's screenshots.
  [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
fi
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} from Debian's packages"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
node_modules/.bin/node --version >/dev/null

# `npm start` rebuilds it too (prestart); `beatsync serve` alone only serves what is there.
npm run build:web
