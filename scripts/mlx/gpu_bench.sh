#!/usr/bin/env bash
# Runs on the GPU machine (H100; no Rust, no network): mlx-gpu against tch-cuda in `dfn4 bench`, from
# the pieces scripts/mlx/gpu_pack.sh made here (the dfn4 binary built with --features mlx,tch and the
# mlx-cuda-13 wheel). Every call carries one piece in .carry/mlx-gpu/.
#
#   bash scripts/mlx/gpu_bench.sh stash        every call but the last: keep the carried piece in /tmp
#   bash scripts/mlx/gpu_bench.sh run N [ARGS] the last call: join the N pieces, install, check, bench
#
# "run" installs the wheel with pip --no-index --no-deps into /tmp/dfn4-mlx/site, points it at the CUDA
# libraries and headers PyTorch already installed there, checks mlx-gpu against native and tch-cuda on
# the real noisy recording (dfn4 enhance), then runs
#   dfn4 bench --backends tch-cuda,mlx-gpu --batch-sizes 1 4 8 16 --train-step [ARGS]
# writing $OUT/bench.json, $OUT/bench.md, $OUT/setup.log and $OUT/parity.txt.
set -uo pipefail
STASH=/tmp/dfn4-mlx-parts
WORK=/tmp/dfn4-mlx
OUT=${OUT:-/tmp/dfn4-mlx-out}
mode=${1:-}
mkdir -p "$STASH" "$OUT"
cp .carry/mlx-gpu/part.* "$STASH/" 2>/dev/null
ls -l "$STASH"

case "$mode" in
  stash) exit 0 ;;
  run) ;;
  *) echo "usage: gpu_bench.sh stash | run N [bench args]" >&2; exit 2 ;;
esac
want=${2:?number of parts}
shift 2
have=$(ls "$STASH"/part.* | wc -l)
if [[ $have != "$want" ]]; then
  echo "have $have of $want parts: the machine was not kept warm between the calls; start again" >&2
  exit 1
fi

exec > >(tee "$OUT/setup.log") 2>&1
set -e
rm -rf "$WORK"
mkdir -p "$WORK"
cat "$STASH"/part.* | gzip -dc | tar -C "$WORK" -xf -
(cd "$WORK" && sha256sum -c SHA256SUMS)
chmod +x "$WORK/dfn4"
python3 -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" "$WORK"/mlx_cuda_13-*.whl

# libmlx.so finds cuBLAS, cuDNN, cuFFT, NVRTC and NCCL through its RPATH ($ORIGIN/../../nvidia/...) and
# the CUDA headers for its JIT kernels relative to itself as well: in a pip install those are the
# nvidia-* wheels next to it. Here they are PyTorch's, so link that folder in.
# (find_spec locates torch without importing it.)
SP=$(python3 -c 'import importlib.util as u, os; print(os.path.dirname(os.path.dirname(u.find_spec("torch").origin)))')
TORCH_LIB=$SP/torch/lib
[[ -d $SP/nvidia ]] && ln -sfn "$SP/nvidia" "$WORK/site/nvidia"
if [[ -z ${CUDA_HOME:-} ]]; then
  for d in "$SP"/nvidia/cu13 "$SP"/nvidia/cuda_runtime /usr/local/cuda; do
    if [[ -f $d/include/cuda_runtime.h ]]; then export CUDA_HOME=$d; break; fi
  done
fi
export LD_LIBRARY_PATH=$WORK/site/mlx/lib:$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
echo "CUDA_HOME=${CUDA_HOME:-unset}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
nvidia-smi -L || true
echo "libraries libmlx.so cannot find:"
ldd "$WORK/site/mlx/lib/libmlx.so" | grep "not found" || echo "  none"
set +e

# Parity on the GPU: the same 10 s recording through native, tch-cuda and mlx-gpu.
for b in native tch-cuda mlx-gpu; do
  "$WORK/dfn4" enhance -y --backend "$b" assets/noisy_speech.wav "$OUT/enh_$b.wav" >"$OUT/enh_$b.log" 2>&1
  echo "enhance --backend $b: exit $?"
  tail -n 3 "$OUT/enh_$b.log"
done
python3 - "$OUT" <<'PY' | tee "$OUT/parity.txt"
import sys, wave, numpy as np, os
out = sys.argv[1]
def load(name):
    p = os.path.join(out, f"enh_{name}.wav")
    if not os.path.exists(p):
        return None
    with wave.open(p) as w:
        raw = w.readframes(w.getnframes())
        width = w.getsampwidth()
    return np.frombuffer(raw, dtype={2: np.int16, 4: np.int32}[width]).astype(np.float64) / (2 ** (8 * width - 1))
ref = load("native")
for name in ("tch-cuda", "mlx-gpu"):
    x = load(name)
    if ref is None or x is None:
        print(f"{name}: no output to compare")
    else:
        print(f"{name} vs native: max |diff| {np.max(np.abs(x - ref)):.3e} (16-bit step {2**-15:.1e})")
PY
rm -f "$OUT"/enh_*.wav

"$WORK/dfn4" bench --backends tch-cuda,mlx-gpu --batch-sizes 1 4 8 16 --train-step \
  --output "$OUT/bench.json" --markdown "$@" 2>&1 | tee "$OUT/bench.md"
echo "bench exit ${PIPESTATUS[0]}"
