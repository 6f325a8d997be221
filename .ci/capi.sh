#!/usr/bin/env bash
# CI for the C API (workspace member capi/, package dfn4-capi: libdfn4.so, libdfn4.a, dfn4.h): clippy and
# its Rust tests (NULLs, bad sizes, failed creates, output == HostStream, no heap in process, panics
# caught, and include/dfn4.h == what cbindgen makes of the sources now: a stale header fails here);
# then C: scripts/capi/install.sh into a temporary prefix (the dev-profile build), capi/examples/
# denoise_wav.c compiled with plain `cc -std=c99 -Wall -Wextra -Werror` through pkg-config, once
# against libdfn4.so and once against libdfn4.a; the shared build denoises the noisy fixture (16-bit
# and float input) in blocks of odd sizes, and its output (aligned by the reported latency) equals
# `dfn4 enhance --out-format f32` within 1e-4; the static build runs under valgrind (memcheck, leak
# check) on a 1 s stereo 44.1 kHz cut, which must show no error and no definite or possible leak.
# Called from .ci/run after the main parts (it reuses their target directory and debug `dfn4`);
# runnable alone from the repository root: bash .ci/capi.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive

# valgrind: the memory check; pkg-config: dfn4.pc; sox: test inputs and reading WAVs for the comparison.
source .ci/apt.sh
apt_install valgrind pkg-config sox python3

echo "== cargo clippy -p dfn4-capi --all-targets -- -D warnings"
cargo clippy -p dfn4-capi --all-targets -- -D warnings

echo "== cargo test -p dfn4-capi (the header check included)"
cargo test -p dfn4-capi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

echo "== scripts/capi/install.sh --debug --prefix $prefix; cargo build --bin dfn4 (the reference)"
bash scripts/capi/install.sh --debug --prefix "$prefix"
cargo build --bin dfn4
target=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
dfn4="$target/debug/dfn4"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pkg-config --modversion dfn4

echo "== cc: denoise_wav.c against libdfn4.so and libdfn4.a"
cflags="-std=c99 -Wall -Wextra -Werror -g"
# shellcheck disable=SC2046,SC2086
cc $cflags capi/examples/denoise_wav.c $(pkg-config --cflags --libs dfn4) -o "$tmp/denoise_wav"
# -l:libdfn4.a: the archive even where libdfn4.so sits beside it; --static adds Libs.private.
# shellcheck disable=SC2046,SC2086
cc $cflags capi/examples/denoise_wav.c $(pkg-config --cflags dfn4) \
  $(pkg-config --static --libs dfn4 | sed 's/-ldfn4/-l:libdfn4.a/') -o "$tmp/denoise_wav_static"
if ldd "$tmp/denoise_wav_static" | grep -q libdfn4; then
  echo "FAIL: the static build links libdfn4.so"
  exit 1
fi

echo "== denoise_wav (shared) == dfn4 enhance --out-format f32, 16-bit and float input"
"$dfn4" enhance assets/noisy_speech.wav "$tmp/enhance.wav" --out-format f32
LD_LIBRARY_PATH="$prefix/lib" "$tmp/denoise_wav" assets/noisy_speech.wav "$tmp/c16.wav"
# The example cuts the reported latency itself: its output is aligned with the input (shift 0).
python3 scripts/plugin/check.py compare "$tmp/c16.wav" "$tmp/enhance.wav" 0 1e-4
sox assets/noisy_speech.wav -e floating-point -b 32 "$tmp/noisy_f32.wav"
LD_LIBRARY_PATH="$prefix/lib" "$tmp/denoise_wav" "$tmp/noisy_f32.wav" "$tmp/cf32.wav"
python3 scripts/plugin/check.py compare "$tmp/cf32.wav" "$tmp/enhance.wav" 0 1e-4

echo "== errors reach the caller: an unknown backend"
if LD_LIBRARY_PATH="$prefix/lib" "$tmp/denoise_wav" assets/noisy_speech.wav "$tmp/x.wav" nope 2> "$tmp/err.txt"; then
  echo "FAIL: an unknown backend was accepted"
  exit 1
fi
cat "$tmp/err.txt"
grep -q 'unknown backend "nope"' "$tmp/err.txt"

echo "== valgrind: the static build on 1 s of stereo at 44.1 kHz (resampling, two channels)"
sox assets/noisy_speech.wav -b 16 "$tmp/stereo44.wav" trim 0 1 remix 1 1v0.5 rate 44100
valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible \
  "$tmp/denoise_wav_static" "$tmp/stereo44.wav" "$tmp/stereo44_out.wav" 2> "$tmp/valgrind.txt" \
  || { cat "$tmp/valgrind.txt"; echo "FAIL: valgrind found errors or leaks"; exit 1; }
grep -E "ERROR SUMMARY|definitely lost|possibly lost|in use at exit|All heap blocks" "$tmp/valgrind.txt"
[ "$(soxi -s "$tmp/stereo44_out.wav")" = "$(soxi -s "$tmp/stereo44.wav")" ]

echo "== C API CI passed"
