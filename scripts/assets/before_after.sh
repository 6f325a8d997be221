#!/usr/bin/env bash
# The README's before/after picture: `dfn4 enhance` on assets/noisy_speech.wav, sox spectrograms of the
# input and the output stacked into assets/before_after_spectrogram.png, and the SI-SDR of both against
# assets/clean_speech.wav (scripts/eval/eval.py, venv of scripts/eval/requirements-eval.txt).
# Needs: sox, ImageMagick. Usage: scripts/assets/before_after.sh [path/to/dfn4]   Env: PY (default: python3 on PATH)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-target/release/dfn4}
py=${PY:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/clean" "$tmp/noisy" "$tmp/enhanced"
cp assets/clean_speech.wav "$tmp/clean/a.wav"
cp assets/noisy_speech.wav "$tmp/noisy/a.wav"
"$bin" enhance assets/noisy_speech.wav "$tmp/enhanced/a.wav"
sox assets/noisy_speech.wav -n spectrogram -x 800 -y 257 -z 90 -t "noisy (assets/noisy_speech.wav)" -o "$tmp/before.png"
sox "$tmp/enhanced/a.wav" -n spectrogram -x 800 -y 257 -z 90 -t "dfn4 enhance (default backend, shipped weights)" -o "$tmp/after.png"
# ImageMagick's own convert (a stand-in may shadow it in /usr/local/bin).
/usr/bin/convert "$tmp/before.png" "$tmp/after.png" -append -strip assets/before_after_spectrogram.png
"$py" scripts/eval/eval.py --clean "$tmp/clean" --enhanced noisy="$tmp/noisy" --enhanced dfn4="$tmp/enhanced" | tail -n 2
