#!/usr/bin/env bash
# CI for the live pipeline (cargo feature `live`): installs what cpal and the null-sink PulseAudio tests
# need, then runs clippy on the feature, the feature's unit tests and its two integration tests.
# Called from .ci/run; runnable alone from the repository root: bash .ci/live.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive

# libasound2-dev: cpal's ALSA backend links libasound. pulseaudio + pulseaudio-utils: the private
# null-sink daemon, paplay/parecord/pactl. libasound2-plugins: ALSA's "pulse" device, so ALSA clients
# reach the same daemon.
source .ci/apt.sh
apt_install libasound2-dev pulseaudio pulseaudio-utils libasound2-plugins

echo "== cargo clippy --all-targets --features live -- -D warnings"
cargo clippy --all-targets --features live -- -D warnings

echo "== cargo test --features live --lib stream:: and --bin dfn4 (unit tests of the feature)"
cargo test --features live --lib -- stream::
cargo test --features live --bin dfn4

echo "== cargo test --features live --test live_callbacks"
cargo test --features live --test live_callbacks

# The null-sink tests play real-time audio: one at a time, and they must not be skipped here.
# DFN4_CI_PULSE=0 leaves them out; DFN4_LIVE_MAX_XRUNS bounds the xruns a run may have (default 0).
if [ "${DFN4_CI_PULSE:-1}" = 1 ]; then
  echo "== cargo test --features live --test live_pulse"
  # DFN4_CI_PULSE_SKIP names tests to leave out (.ci/run explains which and why).
  skip=()
  for t in ${DFN4_CI_PULSE_SKIP:-}; do skip+=(--skip "$t"); done
  DFN4_REQUIRE_PULSE=1 cargo test --features live --test live_pulse -- --test-threads=1 "${skip[@]}"
else
  echo "== live_pulse left out (DFN4_CI_PULSE=0)"
fi
