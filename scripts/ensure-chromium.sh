#!/usr/bin/env bash
# Installs Debian's Chromium (the browser the end-to-end page tests drive through playwright-core)
# if /usr/bin/chromium is missing. No browser download from elsewhere: the distribution package.
# Needs root (the test machines run as root); parallel callers wait for one install.
set -euo pipefail

BIN=/usr/bin/chromium
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi

LOCK="${TMPDIR:-/tmp}/latchkey-ensure-chromium.lock"
exec 9>"$LOCK"
flock 9
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-chromium: $BIN is missing; run as root or: sudo apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi
echo "ensure-chromium: installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y --no-install-recommends chromium >&2
[ -x "$BIN" ] || { echo "ensure-chromium: $BIN still missing after install" >&2; exit 1; }
echo "$BIN"
