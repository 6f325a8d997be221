#!/usr/bin/env bash
# Baseline table on the development set: unprocessed noisy, DeepFilterNet3, RNNoise, NSNet2.
#
# Usage: scripts/eval/run_baseline.sh [OUT_DIR]      (default data/baseline; needs data/corpus)
# Env:   PY  python of a venv with scripts/eval/requirements-peers.txt (default: python3 on PATH)
# Writes OUT_DIR/{df3,rnnoise,nsnet2}/*.wav, OUT_DIR/baseline.md and OUT_DIR/baseline.json.
# Runs with no network (`unshare -n` when available) to show every peer works offline.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PY:-python3}"
out="${1:-$repo/data/baseline}"
offline=()
unshare -n true 2>/dev/null && offline=(unshare -n)

cd "$repo"
"$py" scripts/corpus/make_devset.py --corpus data/corpus --out data/devset
for peer in df3 rnnoise nsnet2; do
    echo "$peer: $("${offline[@]}" "$py" "scripts/eval/peers/$peer.py" data/devset/noisy "$out/$peer" | tail -n1)"
done
"${offline[@]}" "$py" scripts/eval/eval.py --clean data/devset/clean --enhanced noisy=data/devset/noisy \
    --enhanced DeepFilterNet3="$out/df3" --enhanced RNNoise="$out/rnnoise" --enhanced NSNet2="$out/nsnet2" \
    --json "$out/baseline.json" | tee "$out/baseline.md"
