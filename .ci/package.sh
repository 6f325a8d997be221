#!/usr/bin/env bash
# CI for publishing (issue 27): `cargo package -p dfn4` must stay within crates.io's 10 MB, and the
# packaged crate, unpacked alone (no workspace, no path or patched dependencies, only the registry),
# must build and install a `dfn4` that denoises the README's file. cargo's own verification builds the
# unpacked crate; `cargo install --path` of that folder then reuses its target directory.
# Called from .ci/run; runnable alone from the repository root: bash .ci/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
limit_bytes=10000000
check_target="target/package-check"

echo "== cargo package -p dfn4 (verified: the unpacked crate builds with the registry only)"
CARGO_TARGET_DIR="$check_target" cargo package -p dfn4 --allow-dirty 2>&1 | grep -v "^warning: ignoring" | tail -n 3
crate=$(ls "$check_target"/package/dfn4-*.crate)
bytes=$(stat -c %s "$crate")
echo "$crate: $bytes bytes (limit $limit_bytes)"
if [ "$bytes" -gt "$limit_bytes" ]; then
  echo "error: the crate is over crates.io's limit" >&2
  exit 1
fi

echo "== cargo install --debug from the crate, unpacked in a temporary folder"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
tar xzf "$crate" -C "$root"
CARGO_TARGET_DIR="$(pwd)/$check_target" cargo install --debug --locked --path "$root"/dfn4-* --root "$root" --quiet
"$root/bin/dfn4" enhance assets/noisy_speech.wav "$root/out.wav"
"$root/bin/dfn4" --version
