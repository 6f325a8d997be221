#!/usr/bin/env bash
# Score one dfn4 model on dev set v1 (data/devset) and dev set v3 (data/devset_v3).
#
# Usage: scripts/eval/score_model.sh [--model PATH] NAME OUT_DIR [-- DFN4_ENHANCE_ARGS...]
#   --model PATH   weights for `dfn4 enhance --model` (default: the weights embedded in the binary)
#   after --        extra `dfn4 enhance` options, e.g. -- --backend native --post-filter
#                   Without --backend there, the backend is native-f16: the one docs/quality.md's tables use,
#                   so that a figure does not depend on the machine (the CLI's default does: native-i8 where
#                   its int8 kernels run, native-f16 elsewhere; the two differ by up to ~0.015 PESQ-WB).
# Env:   DFN4  the dfn4 binary (default target/release/dfn4)
#        PY    python with scripts/eval/requirements-eval.txt (default /root/.cache/dfn4/venv-eval/bin/python,
#              else python3)
# Writes OUT_DIR/NAME_v1/*.wav and OUT_DIR/NAME_v3/*.wav (enhanced), OUT_DIR/NAME_v1.{md,json} (eval.py, with
# the unprocessed noisy files as a row) and OUT_DIR/NAME_v3.{md,json} (eval.py --meta: also per category
# and per SNR band, noisy as a row).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dfn4="${DFN4:-$repo/target/release/dfn4}"
py="${PY:-/root/.cache/dfn4/venv-eval/bin/python}"
[ -x "$py" ] || py=python3

enh_args=()
if [ "${1:-}" = "--model" ]; then
    enh_args+=(--model "$2")
    shift 2
fi
[ $# -ge 2 ] || { sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 2; }
name="$1" out="$2"
shift 2
if [ "${1:-}" = "--" ]; then
    shift
    enh_args+=("$@")
fi

case " ${enh_args[*]} " in
*" --backend "*) ;;
*) enh_args+=(--backend native-f16) ;;
esac

cd "$repo"
for d in data/devset/noisy data/devset_v3/noisy data/devset_v3/meta.json; do
    [ -e "$d" ] || { echo "missing $d (scripts/corpus/make_devset.py, scripts/corpus/v3/make_devset_v3.py)" >&2; exit 1; }
done
scripts/eval/check_devsets.sh data/devset data/devset_v3
mkdir -p "$out"
for v in v1 v3; do
    src=data/devset/noisy
    [ "$v" = v3 ] && src=data/devset_v3/noisy
    rm -rf "${out:?}/${name}_$v"
    "$dfn4" enhance -y "${enh_args[@]}" "$src" "$out/${name}_$v"
done
"$py" scripts/eval/eval.py --clean data/devset/clean --enhanced noisy=data/devset/noisy \
    --enhanced "$name=$out/${name}_v1" --json "$out/${name}_v1.json" | tee "$out/${name}_v1.md"
"$py" scripts/eval/eval.py --clean data/devset_v3/clean --meta data/devset_v3/meta.json \
    --enhanced noisy=data/devset_v3/noisy --enhanced "$name=$out/${name}_v3" --json "$out/${name}_v3.json" \
    | tee "$out/${name}_v3.md"
