#!/usr/bin/env bash
# The train/dev gap: dfn4 models and the peers on the "train mirror", dev v3's recipe built from the train
# split (train speakers, noise files and rooms; scripts/corpus/v3/make_devset_v3.py --split train), scored
# like dev v3 (overall, per category, per SNR band). Set beside the dev v3 table, a model's drop from the
# mirror to dev v3 is what does not carry over to new voices, noises and rooms; the peers, which saw neither
# set, show how much of that drop is the sets themselves.
#
# Usage: scripts/eval/score_train_mirror.sh [--speech-split S] [--noise-split N] [--match-dev-sources]
#            OUT_DIR [NAME=WEIGHTS ...]
#   --speech-split, --noise-split   dev or train (default train for both): crossed sets, train voices over
#                  dev noises or the reverse, tell which of the two the model does not carry over
#   --match-dev-sources  train voices: one train speaker per dev speaker, from the same corpus package (the
#                  like-for-like comparison with dev v3; docs/quality.md, the train/dev gap)
#   NAME=WEIGHTS   a dfn4 model to score (safetensors; its .json beside it is read if present);
#                  NAME=embedded scores the weights built into the binary. Default: shipped=embedded.
# Env:   DFN4      the dfn4 binary (default target/release/dfn4); models run with --backend native-f16
#        PY_V3     python with scripts/corpus/v3/requirements.txt (default data/.cache/venv-v3/bin/python)
#        PY        python with scripts/eval/requirements-peers.txt (default /root/.cache/dfn4/venv-peers/bin/python);
#                  PEERS=0 skips the peers; a peer whose OUT_DIR folder exists is not run again
#        PY_EVAL   python with scripts/eval/requirements-eval.txt for the scoring (default
#                  /root/.cache/dfn4/venv-eval/bin/python, else PY), so PEERS=0 needs no peers' environment
# Needs corpus v3's sources in data/.cache (scripts/corpus/v3/build.sh). Writes OUT_DIR/mirror (the pairs;
# its rooms are this machine's simulation, so no published fingerprint), OUT_DIR/NAME/*.wav,
# OUT_DIR/train_mirror.{md,json}.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dfn4="${DFN4:-$repo/target/release/dfn4}"
py_v3="${PY_V3:-$repo/data/.cache/venv-v3/bin/python}"
py="${PY:-/root/.cache/dfn4/venv-peers/bin/python}"
py_eval="${PY_EVAL:-/root/.cache/dfn4/venv-eval/bin/python}"
[ -x "$py_eval" ] || py_eval="$py"
splits=()
while true; do
    case "${1:-}" in
    --speech-split | --noise-split) splits+=("$1" "$2"); shift 2 ;;
    --match-dev-sources) splits+=("$1"); shift ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || { sed -n '2,23p' "${BASH_SOURCE[0]}"; exit 2; }
out="$(realpath -m "$1")"
shift
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(shipped=embedded)

cd "$repo"
mirror="$out/mirror"
if [ ! -f "$mirror/meta.json" ]; then
    "$py_v3" scripts/corpus/v3/make_devset_v3.py --split train "${splits[@]}" --out "$mirror"
fi
rows=(--enhanced "noisy=$mirror/noisy")
for spec in "${models[@]}"; do
    name="${spec%%=*}" weights="${spec#*=}"
    model_args=()
    [ "$weights" = embedded ] || model_args=(--model "$weights")
    "$dfn4" enhance -y --backend native-f16 "${model_args[@]}" "$mirror/noisy" "$out/$name"
    rows+=(--enhanced "$name=$out/$name")
done
if [ "${PEERS:-1}" != 0 ]; then
    for peer in df3 rnnoise nsnet2; do
        [ -d "$out/$peer" ] || echo "$peer: $("$py" "scripts/eval/peers/$peer.py" "$mirror/noisy" "$out/$peer" | tail -n1)"
    done
    rows+=(--enhanced "DeepFilterNet3=$out/df3" --enhanced "RNNoise=$out/rnnoise" --enhanced "NSNet2=$out/nsnet2")
fi
"$py_eval" scripts/eval/eval.py --clean "$mirror/clean" --meta "$mirror/meta.json" "${rows[@]}" \
    --json "$out/train_mirror.json" | tee "$out/train_mirror.md"
