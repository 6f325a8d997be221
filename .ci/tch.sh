#!/usr/bin/env bash
# CI part for the libtorch backend and the trainer: installs the light CPU libtorch from PyPI (torch 2.11.0
# without its CUDA libraries, ~545 MB; see ../shared/RECIPES.md), builds with `--features train` (which
# includes `tch`) and runs the parity tests (tch-cpu == native), the CLI wiring tests, the CUDA-graph shim
# tests (without a GPU they check that graphs are refused cleanly), the CPU training smoke tests and the fused
# selective scan against the tensor form (outputs and gradients). Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${DFN4_TORCH_VENV:-$HOME/.cache/dfn4/venv-torch}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  }
fi
if ! "$venv/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is None)' ||
   ! compgen -G "$venv/lib/python3*/site-packages/nvidia/cu13/include/crt/host_config.h" >/dev/null; then
  # nvidia-cuda-crt: headers that cuda_runtime.h includes, needed to compile the CUDA-graph shim.
  "$venv/bin/pip" install -q --no-deps torch==2.11.0 'nvidia-cuda-runtime==13.0.96.*' \
    'nvidia-cuda-cupti==13.0.85.*' 'nvidia-cuda-crt==13.0.88'
fi
LIBTORCH="$("$venv/bin/python" - <<'PY'
import importlib.util, os
print(os.path.dirname(importlib.util.find_spec("torch").origin))
PY
)"
export LIBTORCH
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo "== cargo clippy --all-targets --features train -- -D warnings"
cargo clippy --all-targets --features train -- -D warnings
echo "== cargo test --features train (tch parity, wiring, CUDA-graph shim, training smoke, library)"
cargo test --features train --lib --test tch_parity --test tch_wiring --test tch_cuda_graph --test train_smoke --test train_memory --test fused_scan
