#!/usr/bin/env bash
# Fuzz smoke for the library boundary and the plugin's host contract (docs/fuzzing.md). By default it
# replays the committed corpora (fuzz/corpus/<target>/) through the fuzz targets' checks in a plain
# `cargo test`: no nightly, under a minute. The plugin corpus is replayed by the plugin crate's own test
# (the main crate cannot depend on the plugin), which .ci/plugin.sh also runs with the plugin's tests.
# Installing cargo-fuzz (~3 min) and building the instrumented targets (~6.5 min) on a 2-core machine
# would cost far more than the smoke is worth on every run.
#
# DFN4_FUZZ_SECONDS=N also fuzzes each target for N seconds with cargo-fuzz (nightly; installs
# cargo-fuzz if missing). New inputs go to a temp dir, so the committed corpora are not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --test fuzz_seeds
cargo test -p dfn4-plugin --test fuzz_seeds

seconds=${DFN4_FUZZ_SECONDS:-0}
if [ "$seconds" -gt 0 ]; then
  if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version '~0.13' --locked
  fi
  # AddressSanitizer's quarantine (256 MB by default) keeps freed memory, which counts against the
  # 512 MB RSS limit: a 256-channel input of denoiser_input frees ~230 MB at once (docs/fuzzing.md).
  export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=64}
  for target in wav_reader weights_loader denoiser_input plugin_host audio_decoder; do
    new=$(mktemp -d)
    (cd fuzz && nice -n 5 cargo +nightly fuzz run "$target" "$new" "corpus/$target" -- \
      -rss_limit_mb=512 -max_len=16384 -timeout=10 -max_total_time="$seconds" -print_final_stats=1)
    rm -rf "$new"
  done
fi
