#!/usr/bin/env bash
# CI part for the libtorch backend and the trainer: installs the light CPU libtorch from PyPI (torch 2.11.0
# without its CUDA libraries, ~545 MB; see ../shared/RECIPES.md), builds with `--features train` (which
# includes `tch`) and runs the parity tests (tch-cpu == native), the CLI wiring tests, the CUDA-graph shim
# tests (without a GPU they check that graphs are refused cleanly), the CPU training smoke tests and the fused
# selective scan against the tensor form (outputs and gradients). Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/torch_env.sh

echo "== cargo clippy --all-targets --features train -- -D warnings"
cargo clippy --all-targets --features train -- -D warnings
echo "== cargo test --features train (tch parity, wiring, CUDA-graph shim, training smoke, library)"
cargo test --features train --lib --test tch_parity --test tch_wiring --test tch_cuda_graph --test train_smoke --test train_memory --test fused_scan
