#!/usr/bin/env bash
# One chained training run on the GPU machine: resume from the checkpoint carried in .carry/ck, or else from
# the one committed under models/ (models/dfn4.safetensors + models/checkpoint/: it travels with every call
# anyway, so carrying a copy would only waste the 64 MiB), train until the deadline, return checkpoint +
# export + log under $OUT.
set -uo pipefail
MINUTES=${1:-8.8}; STEPS=${2:-4800}; REV=${3:-unknown}
chmod +x .carry/tch/train
export LD_LIBRARY_PATH=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__)+"/lib")')
mkdir -p "$OUT/ck"
if [ -d .carry/ck/latest ]; then
  cp -r .carry/ck/latest "$OUT/ck/"
elif [ -f models/checkpoint/state.json ]; then
  mkdir -p "$OUT/ck/latest"
  cp models/checkpoint/optim_m.safetensors models/checkpoint/optim_v.safetensors \
     models/checkpoint/state.json "$OUT/ck/latest/"
  cp models/dfn4.safetensors "$OUT/ck/latest/model.safetensors"
fi
chmod -R u+w "$OUT/ck"
PYTHONUNBUFFERED=1 .carry/tch/train --corpus data/corpus --ckpt-dir "$OUT/ck" --export-dir "$OUT/models" \
  --device cuda --batch 32 --seconds 3 --steps "$STEPS" --lr 5e-4 --warmup 500 --min-lr-ratio 0.05 \
  --weight-decay 0.01 --auto-resume --compact-ckpt --max-minutes "$MINUTES" --threads 14 \
  --log-every 100 --val-every 500 --ckpt-every 500 --git-rev "$REV" 2>&1 | tee "$OUT/train.log"
rm -rf "$OUT/ck/latest.old" "$OUT/ck/latest.tmp"
find "$OUT" -type f | xargs ls -la
