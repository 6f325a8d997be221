#!/usr/bin/env bash
# Screenshot of the real meter window for the README: runs `dfn4 gui --demo` under Xvfb (Mesa llvmpipe
# behind glow), grabs the window with ImageMagick's `import` after the history plot has filled, and
# writes a small palette PNG to assets/meter.png.
# Needs: apt-get install xvfb imagemagick. Usage: scripts/meter_screenshot.sh [path/to/dfn4]
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --features gui
  bin=${CARGO_TARGET_DIR:-target}/debug/dfn4
fi

tmp=$(mktemp -d)
chmod 700 "$tmp"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$tmp/display" 2>"$tmp/xvfb.log" &
xvfb_pid=$!
dfn4_pid=
cleanup() {
  [ -n "$dfn4_pid" ] && kill "$dfn4_pid" 2>/dev/null || true
  kill "$xvfb_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
until [ -s "$tmp/display" ]; do sleep 0.1; done
export DISPLAY=":$(cat "$tmp/display")" XDG_RUNTIME_DIR="$tmp"

"$bin" gui --demo &
dfn4_pid=$!
# Ten seconds fill the history plot; at 12.6 s the demo is in the middle of a spoken phrase.
sleep 12.6
import -window "dfn4 meter (demo)" "$tmp/raw.png"
# ImageMagick's own convert (a stand-in may shadow it in /usr/local/bin).
/usr/bin/convert "$tmp/raw.png" -strip +dither -colors 128 -define png:compression-level=9 assets/meter.png
echo "wrote assets/meter.png"
