#!/usr/bin/env bash
# cargo with the Linux-patched MLX crates: `scripts/mlx/cargo.sh build --release --features mlx`
# (any cargo subcommand; clippy included).
# Runs scripts/mlx/setup.sh (quick when already done), sources its env.sh, and passes its
# [patch.crates-io] config to cargo. The patch makes cargo record path sources for mlx-sys and mlx-rs
# in Cargo.lock; the committed lock (registry sources) is put back afterwards so that the default
# build and git see no change. On macOS this is plain cargo.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)

if [[ $(uname -s) == Darwin ]]; then
  exec cargo "$@"
fi

setup_log=$(mktemp)
env_file=$(bash "$SCRIPT_DIR/setup.sh" 2>"$setup_log") || { cat "$setup_log" >&2; exit 1; }
rm -f "$setup_log"
# shellcheck source=/dev/null
source "$env_file"

# One run at a time per checkout: two overlapping runs would each save the other's patched lock.
exec 9>"$(dirname "$DFN4_MLX_CARGO_CONFIG")/cargo-$(echo "$REPO" | sha256sum | cut -c1-12).lock"
flock 9
lock=$REPO/Cargo.lock
saved=$(mktemp)
cp "$lock" "$saved"
restore() { cp "$saved" "$lock" && rm -f "$saved"; }
trap restore EXIT
if [[ ${1:-} == clippy ]]; then
  # cargo-clippy is an external subcommand and does not see `--config`; cargo also reads the patch
  # table from .cargo/config.toml above the working directory.
  (cd "$(dirname "$DFN4_MLX_CARGO_CONFIG")/cfg" && cargo clippy --manifest-path "$REPO/Cargo.toml" "${@:2}")
else
  cargo --config "$DFN4_MLX_CARGO_CONFIG" "$@"
fi
