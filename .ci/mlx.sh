#!/usr/bin/env bash
# CI for the `mlx` feature (called from .ci/run after the default checks). Installs what the Linux build
# needs (scripts/mlx/setup.sh: Debian cmake/libclang/OpenBLAS, PyPI mlx-cpu==0.32.2, the patched
# registry mlx-sys/mlx-rs), then clippy with the feature, the MLX tests (parity with the native backend,
# autograd, scan) and a `dfn4 bench` smoke run of mlx-cpu including the training step.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
start=$SECONDS
cargo_mlx() { bash scripts/mlx/cargo.sh "$@"; }

echo "== mlx setup"
bash scripts/mlx/setup.sh >/dev/null

echo "== cargo clippy --all-targets --features mlx -- -D warnings"
cargo_mlx clippy --all-targets --features mlx -- -D warnings

echo "== cargo test --features mlx (MLX backend)"
cargo_mlx test --features mlx --test mlx_parity
cargo_mlx test --features mlx --lib -- backend::mlx bench::engine
cargo_mlx test --features mlx --bin dfn4 -- cli::bench

echo "== dfn4 bench smoke (mlx-cpu vs native, with the training step)"
out=$(mktemp -d)
cargo_mlx run --features mlx -- bench --backends native,mlx-cpu --batch-sizes 2 --seq-length 20 \
  --num-warmup 1 --num-runs 3 --threads 1 --train-step --output "$out/bench.json" >"$out/bench.txt"
python3 - "$out/bench.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
mlx = next(b for b in report["backends"] if b["name"] == "mlx-cpu")
assert mlx["offline"] and mlx["offline"][0]["latency_ms"], "no offline result"
assert mlx["train_step"]["available"] and mlx["train_step"]["results"], "no training-step result"
print("bench report ok: mlx-cpu streaming step median",
      mlx["streaming"]["latency_ms"]["median"], "ms")
PY
rm -rf "$out"
echo "mlx CI done in $((SECONDS - start)) s"
