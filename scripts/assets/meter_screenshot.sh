#!/usr/bin/env bash
# Screenshot of the real meter window for the README, under Xvfb (Mesa llvmpipe behind glow), grabbed
# with ImageMagick's `import` after the history plot has filled, written as a small palette PNG.
#   demo (default): `dfn4 gui --demo` on synthetic values -> assets/meter.png
#   MODE=live:      `dfn4 live --gui --compare native-f16,native` on the null-sink PulseAudio harness of
#                   scripts/live/null_sink.sh (real audio, real pipeline) -> assets/meter_live.png
#                   (the binary needs --features live,gui)
# Needs: apt-get install xvfb imagemagick (+ pulseaudio pulseaudio-utils for live).
# Usage: [MODE=live] scripts/assets/meter_screenshot.sh [path/to/dfn4]
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=${MODE:-demo}
bin=${1:-}
if [ -z "$bin" ]; then
  if [ "$mode" = live ]; then cargo build --release --features live,gui; else cargo build --features gui; fi
  bin=${CARGO_TARGET_DIR:-target}/$([ "$mode" = live ] && echo release || echo debug)/dfn4
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

if [ "$mode" = live ]; then
  # The harness exports its own HOME/XDG_RUNTIME_DIR for the private daemon; DISPLAY passes through.
  DFN4="$bin" scripts/live/null_sink.sh 16 --gui --compare native-f16,native \
    >"$tmp/live.json" 2>"$tmp/live.log" &
  dfn4_pid=$!
  title="dfn4 meter"
  out=assets/meter_live.png
else
  "$bin" gui --demo &
  dfn4_pid=$!
  title="dfn4 meter (demo)"
  out=assets/meter.png
fi
# Ten seconds fill the history plot; at 12.6 s the demo is in the middle of a spoken phrase.
sleep 12.6
import -window "$title" "$tmp/raw.png"
# ImageMagick's own convert (a stand-in may shadow it in /usr/local/bin).
/usr/bin/convert "$tmp/raw.png" -strip +dither -colors 128 -define png:compression-level=9 "$out"
echo "wrote $out"
if [ "$mode" = live ]; then
  wait "$dfn4_pid" || true
  dfn4_pid=
  tail -n 1 "$tmp/live.json"
fi
