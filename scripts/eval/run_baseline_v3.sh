#!/usr/bin/env bash
# Baseline table on dev set v3: unprocessed noisy, DeepFilterNet3, RNNoise, NSNet2, overall, per category
# and per SNR band.
#
# Usage: scripts/eval/run_baseline_v3.sh [OUT_DIR]   (default data/baseline_v3; needs data/devset_v3, made by
#        scripts/corpus/v3/make_devset_v3.py, which scripts/corpus/v3/build.sh runs)
# Env:   PY  python of a venv with scripts/eval/requirements-peers.txt (default: python3 on PATH)
# Writes OUT_DIR/{df3,rnnoise,nsnet2}/*.wav, OUT_DIR/baseline_v3.md and OUT_DIR/baseline_v3.json.
# Runs with no network (`unshare -n` when available) to show every peer works offline.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PY:-python3}"
out="${1:-$repo/data/baseline_v3}"
dev=data/devset_v3
offline=()
unshare -n true 2>/dev/null && offline=(unshare -n)

cd "$repo"
[ -f "$dev/meta.json" ] || { echo "missing $dev/meta.json: run scripts/corpus/v3/make_devset_v3.py" >&2; exit 1; }
scripts/eval/check_devsets.sh data/devset_v3
for peer in df3 rnnoise nsnet2; do
    echo "$peer: $("${offline[@]}" "$py" "scripts/eval/peers/$peer.py" "$dev/noisy" "$out/$peer" | tail -n1)"
done
"${offline[@]}" "$py" scripts/eval/eval.py --clean "$dev/clean" --meta "$dev/meta.json" \
    --enhanced noisy="$dev/noisy" --enhanced DeepFilterNet3="$out/df3" --enhanced RNNoise="$out/rnnoise" \
    --enhanced NSNet2="$out/nsnet2" --json "$out/baseline_v3.json" | tee "$out/baseline_v3.md"
