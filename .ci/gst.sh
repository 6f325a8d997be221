#!/usr/bin/env bash
# CI for the GStreamer element (workspace member gst/, package dfn4-gst, plugin libgstdfn4.so, element
# dfn4denoise): clippy and its Rust tests (gst_check Harness: odd buffer sizes, latency, EOS drain,
# 48 -> 44.1 kHz renegotiation, flush, bypass, bad properties and caps, == Enhancer at 48 kHz; no
# allocation in the streaming path), gst-inspect-1.0 documents the element, then real pipelines with
# gst-launch-1.0: a FLAC file (made here from the 48 kHz fixture with flacenc) decoded through dfn4denoise
# into wavenc gives as many samples as the input and equals `dfn4 enhance --out-format f32` within 1e-5;
# an Ogg Vorbis file at 44.1 kHz gives as many samples as its decode and is denoised (noise-only frames
# at least 10 dB quieter).
# Called from .ci/run after the main parts (debug builds, the shared target directory and debug `dfn4`);
# runnable alone from the repository root: bash .ci/gst.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive

# Debian 12's GStreamer 1.22: headers and pkg-config files (core, base, audio, check) for gstreamer-rs,
# gst-launch-1.0/gst-inspect-1.0, and the elements of the pipelines (flacenc/flacdec, wavenc: -good;
# vorbisenc/vorbisdec, oggmux/oggdemux, audioconvert, audioresample, wavparse: -base and -good).
# pkg-config: how gstreamer-rs finds GStreamer. sox and python3: the checks (scripts/plugin/check.py
# reads WAVs through sox).
source .ci/apt.sh
apt_install libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools \
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good pkg-config sox python3

echo "== cargo clippy -p dfn4-gst --all-targets -- -D warnings"
cargo clippy -p dfn4-gst --all-targets -- -D warnings

echo "== cargo test -p dfn4-gst; cargo build -p dfn4-gst --lib; cargo build --bin dfn4"
cargo test -p dfn4-gst
cargo build -p dfn4-gst --lib
cargo build --bin dfn4
target=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export GST_PLUGIN_PATH="$target/debug"
dfn4="$target/debug/dfn4"
check="python3 scripts/plugin/check.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A fresh registry: the plugin was just rebuilt.
export GST_REGISTRY="$tmp/registry.bin"

echo "== gst-inspect-1.0 dfn4denoise"
gst-inspect-1.0 dfn4denoise | tee "$tmp/inspect.txt"
# The element's default backend is the library's for this machine, as `dfn4 enhance --help` states it.
default_backend=$("$dfn4" enhance --help | sed -n 's/.*on this machine: \([a-z0-9-]*\).*/\1/p')
echo "default backend on this machine: $default_backend"
[ -n "$default_backend" ]
for needle in 'Filter/Effect/Audio' 'format: F32LE' 'rate: \[ 8000, 192000 \]' 'channels: \[ 1, 256 \]' \
  'atten-lim-db' 'post-filter' 'backend' 'bypass' "String. Default: \"$default_backend\"" \
  'Float. Range: *0 - *100 Default: *100'; do
  grep -q "$needle" "$tmp/inspect.txt" || { echo "gst-inspect-1.0 lacks: $needle"; exit 1; }
done

samples() { soxi -s "$1"; }

echo "== FLAC (48 kHz) -> flacdec -> dfn4denoise -> wavenc == dfn4 enhance --out-format f32"
gst-launch-1.0 -q filesrc location=assets/noisy_speech.wav ! wavparse ! audioconvert ! flacenc \
  ! filesink location="$tmp/noisy.flac"
gst-launch-1.0 -q filesrc location="$tmp/noisy.flac" ! flacparse ! flacdec ! audioconvert \
  ! dfn4denoise ! wavenc ! filesink location="$tmp/gst48.wav"
"$dfn4" enhance assets/noisy_speech.wav "$tmp/enhance.wav" --out-format f32
echo "samples: input $(samples assets/noisy_speech.wav), element $(samples "$tmp/gst48.wav"), enhance $(samples "$tmp/enhance.wav")"
[ "$(samples "$tmp/gst48.wav")" = "$(samples assets/noisy_speech.wav)" ]
# The element cuts its start-up delay and reports it as latency: aligned with enhance, shift 0.
$check compare "$tmp/gst48.wav" "$tmp/enhance.wav" 0 1e-5

echo "== Ogg Vorbis (44.1 kHz, stereo) -> vorbisdec -> dfn4denoise -> wavenc: as long as the decode, denoised"
sox -R -D assets/noisy_speech.wav -b 16 "$tmp/noisy44.wav" rate 44100 channels 2
sox -R -D assets/clean_speech.wav -b 16 "$tmp/clean44.wav" rate 44100
gst-launch-1.0 -q filesrc location="$tmp/noisy44.wav" ! wavparse ! audioconvert ! vorbisenc quality=0.9 \
  ! oggmux ! filesink location="$tmp/noisy44.ogg"
gst-launch-1.0 -q filesrc location="$tmp/noisy44.ogg" ! oggdemux ! vorbisdec ! audioconvert \
  ! audio/x-raw,format=F32LE ! wavenc ! filesink location="$tmp/decoded44.wav"
gst-launch-1.0 -q filesrc location="$tmp/noisy44.ogg" ! oggdemux ! vorbisdec ! audioconvert \
  ! dfn4denoise ! wavenc ! filesink location="$tmp/gst44.wav"
echo "samples: decoded $(samples "$tmp/decoded44.wav"), element $(samples "$tmp/gst44.wav")"
[ "$(samples "$tmp/gst44.wav")" = "$(samples "$tmp/decoded44.wav")" ]
$check noise "$tmp/decoded44.wav" "$tmp/gst44.wav" "$tmp/clean44.wav" 0

echo "== unknown backend: a clear error, no crash"
if gst-launch-1.0 audiotestsrc num-buffers=3 ! audio/x-raw,format=F32LE ! dfn4denoise backend=nope \
  ! fakesink >"$tmp/bad.txt" 2>&1; then
  echo "an unknown backend was accepted"; exit 1
fi
cat "$tmp/bad.txt"
grep -q 'unknown backend "nope"' "$tmp/bad.txt"

echo "== GStreamer CI passed"
