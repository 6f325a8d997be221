#!/usr/bin/env bash
# CI for the LADSPA plugin (workspace member plugin/, package dfn4-plugin): clippy and its Rust tests
# (block sizes, latency, other rates, bypass, no allocation in run), then real hosts from ladspa-sdk:
# analyseplugin lists both plugins and their ports; applyplugin on the noisy fixture at 48 kHz equals
# `dfn4 enhance --out-format f32` shifted by the reported latency (within 1e-4), and at 44.1 kHz it
# denoises (noise-only frames at least 10 dB quieter); the LV2 bundle passes lv2ls/lv2info and lv2file's
# output equals enhance's in the same way; and end to end in a private headless PipeWire
# (scripts/plugin/pipewire_e2e.sh: the shipped filter-chain config, WirePlumber, quantum 256, 20 s): the
# denoised microphone is the plugin's output on the recorded microphone sample for sample, at the
# reported latency, with no discontinuity, and its noise-only frames are at least 10 dB quieter.
# Called from .ci/run after the main parts (it reuses their target directory and debug `dfn4`);
# runnable alone from the repository root: bash .ci/plugin.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive

# ladspa-sdk: analyseplugin, applyplugin. lilv-utils: lv2ls, lv2info. lv2file: an LV2 host for files.
# sox: resampling and reading WAVs for the checks. pipewire, pipewire-bin, wireplumber, dbus: the private
# audio server of the end-to-end run; tmux: pw-top's table for xruns.
source .ci/apt.sh
apt_install ladspa-sdk lilv-utils lv2file sox python3 pipewire pipewire-bin wireplumber dbus tmux

echo "== cargo clippy -p dfn4-plugin --all-targets -- -D warnings"
cargo clippy -p dfn4-plugin --all-targets -- -D warnings

echo "== cargo build -p dfn4-plugin --lib; cargo test -p dfn4-plugin"
# The dlopen test loads the debug cdylib, which `cargo test` alone does not link.
cargo build -p dfn4-plugin --lib
cargo test -p dfn4-plugin

echo "== cargo build --release -p dfn4-plugin --lib --example pipewire_check; cargo build --bin dfn4 (the reference)"
cargo build --release -p dfn4-plugin --lib --example pipewire_check
cargo build --bin dfn4
target=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
so="$target/release/libdfn4_plugin.so"
dfn4="$target/debug/dfn4"
check="python3 scripts/plugin/check.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== analyseplugin: both plugins and their ports"
analyseplugin -l "$so" | tee "$tmp/list.txt"
grep -q "dfn4_mono" "$tmp/list.txt"
grep -q "dfn4_stereo" "$tmp/list.txt"
for label in dfn4_mono dfn4_stereo; do
  analyseplugin "$so" "$label" | tee "$tmp/$label.txt"
  grep -q 'Hard Real-Time' "$tmp/$label.txt"
  grep -q '"Attenuation limit (dB)" input, control, 0 to 100, default 100' "$tmp/$label.txt"
  grep -q '"Bypass" input, control, toggled, default 0' "$tmp/$label.txt"
  grep -q '"latency" output, control' "$tmp/$label.txt"
done
[ "$(grep -c 'input, audio' "$tmp/dfn4_mono.txt")" = 1 ]
[ "$(grep -c 'output, audio' "$tmp/dfn4_mono.txt")" = 1 ]
[ "$(grep -c 'input, audio' "$tmp/dfn4_stereo.txt")" = 2 ]
[ "$(grep -c 'output, audio' "$tmp/dfn4_stereo.txt")" = 2 ]

echo "== applyplugin at 48 kHz == dfn4 enhance, shifted by the reported latency"
latency=$($check latency "$so" dfn4_mono 48000)
echo "reported latency at 48 kHz: $latency samples"
"$dfn4" enhance assets/noisy_speech.wav "$tmp/enhance.wav" --out-format f32
# -s 1: one second of silence after the input, so the delayed tail comes out too.
applyplugin -s 1 assets/noisy_speech.wav "$tmp/plugin48.wav" "$so" dfn4_mono 100 0
$check compare "$tmp/plugin48.wav" "$tmp/enhance.wav" "$latency" 1e-4

echo "== applyplugin at 44.1 kHz denoises"
sox -R -D assets/noisy_speech.wav -b 16 "$tmp/noisy44.wav" rate 44100
sox -R -D assets/clean_speech.wav -b 16 "$tmp/clean44.wav" rate 44100
latency44=$($check latency "$so" dfn4_mono 44100)
echo "reported latency at 44.1 kHz: $latency44 samples"
applyplugin -s 1 "$tmp/noisy44.wav" "$tmp/plugin44.wav" "$so" dfn4_mono 100 0
$check noise "$tmp/noisy44.wav" "$tmp/plugin44.wav" "$tmp/clean44.wav" "$latency44"

echo "== LV2 bundle: lv2ls, lv2info, lv2file == dfn4 enhance"
mkdir -p "$tmp/lv2"
cp -r plugin/lv2/dfn4.lv2 "$tmp/lv2/"
cp "$so" "$tmp/lv2/dfn4.lv2/"
export LV2_PATH="$tmp/lv2"
lv2ls | tee "$tmp/lv2ls.txt"
grep -qx "urn:dfn4:plugin:mono" "$tmp/lv2ls.txt"
grep -qx "urn:dfn4:plugin:stereo" "$tmp/lv2ls.txt"
for uri in urn:dfn4:plugin:mono urn:dfn4:plugin:stereo; do
  lv2info "$uri" > "$tmp/lv2info.txt"
  grep -q "Has latency: *yes" "$tmp/lv2info.txt"
  grep -q "Name: *Attenuation limit (dB)" "$tmp/lv2info.txt"
  grep -q "Name: *Bypass" "$tmp/lv2info.txt"
done
lv2file -i assets/noisy_speech.wav -o "$tmp/lv2_48.wav" urn:dfn4:plugin:mono
$check compare "$tmp/lv2_48.wav" "$tmp/enhance.wav" "$latency" 1e-4

echo "== PipeWire end to end: filter-chain source at quantum 256, 20 s"
# The whole recording must equal the plugin's output (exact from start to end: no buffer lost or
# repeated), at the reported latency, denoised; pw-top's xrun counts are printed. One retry: a shared CI
# machine can preempt the graph; a second failure fails CI.
e2e() {
  bash scripts/plugin/pipewire_e2e.sh --quantum 256 --seconds 20 --require-exact-s 20 --max-discontinuities 0
}
if ! e2e; then
  echo "== PipeWire end to end failed once; running it again"
  e2e
fi

echo "== plugin CI passed"
