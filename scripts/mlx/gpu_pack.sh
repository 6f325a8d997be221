#!/usr/bin/env bash
# Packs what the GPU machine needs for scripts/mlx/gpu_bench.sh into pieces that each fit one device call:
# the dfn4 binary (build it first: scripts/mlx/cargo.sh build --release --features mlx,tch) and the
# PyPI wheel mlx-cuda-13==0.32.2 (libmlx.so with MLX's CUDA backend; the same symbols as the mlx-cpu
# build the binary was linked against). The GPU machine has no Rust and no network.
#
#   scripts/mlx/gpu_pack.sh [BINARY]     default: $CARGO_TARGET_DIR/release/dfn4 (or target/release/dfn4)
#
# Writes .carry/mlx-gpu/part.00, part.01, ... (PART_MB megabytes each, default 34: with the ~23 MB of
# tracked files one call stays under the 64 MiB a call carries) and prints the calls to make.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
MLX_HOME=${DFN4_MLX_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/dfn4-mlx}
BIN=${1:-${CARGO_TARGET_DIR:-$REPO/target}/release/dfn4}
PART_MB=${PART_MB:-34}
OUT_DIR=$REPO/.carry/mlx-gpu

[[ -x $BIN ]] || { echo "no binary at $BIN (build with --release --features mlx,tch)" >&2; exit 1; }
wheels=$MLX_HOME/wheels-gpu
mkdir -p "$wheels"
if ! ls "$wheels"/mlx_cuda_13-0.32.2-*.whl >/dev/null 2>&1; then
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --platform manylinux_2_35_x86_64 \
    -d "$wheels" mlx-cuda-13==0.32.2
fi
wheel=$(ls "$wheels"/mlx_cuda_13-0.32.2-*.whl | head -n 1)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$BIN" "$stage/dfn4"
strip --strip-debug "$stage/dfn4" 2>/dev/null || true
cp "$wheel" "$stage/"
(cd "$stage" && sha256sum dfn4 "$(basename "$wheel")" >SHA256SUMS)

rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR"
tar -C "$stage" -cf - . | gzip -1 | split -b "${PART_MB}000000" -d - "$OUT_DIR/part."
parts=("$OUT_DIR"/part.*)
echo "packed $(du -ch "${parts[@]}" | tail -n 1 | cut -f1) in ${#parts[@]} part(s) under .carry/mlx-gpu:" >&2
ls -l "${parts[@]}" >&2
n=${#parts[@]}
echo "device calls (each within 30 s of the previous one, so the machine stays warm):" >&2
for ((i = 0; i < n; i++)); do
  p=".carry/mlx-gpu/$(basename "${parts[$i]}")"
  if ((i < n - 1)); then
    echo "  run(carry=[\"$p\"], command=\"bash scripts/mlx/gpu_bench.sh stash\", timeout_s=120)" >&2
  else
    echo "  run(carry=[\"$p\"], command=\"bash scripts/mlx/gpu_bench.sh run $n\", timeout_s=600)" >&2
  fi
done
