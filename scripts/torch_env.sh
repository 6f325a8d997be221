# Sourced (`. scripts/torch_env.sh`): the libtorch that `--features tch`/`train` builds and runs against,
# torch 2.11.0 from PyPI in a venv (DFN4_TORCH_VENV, default ~/.cache/dfn4/venv-torch; created and filled
# when missing, with the CUDA headers the CUDA-graph shim compiles against), then LIBTORCH and
# LD_LIBRARY_PATH exported. Used by .ci/tch.sh and scripts/gpu/prepare_day.sh.
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
