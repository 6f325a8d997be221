#!/usr/bin/env bash
# Make assets/clean_speech.wav and assets/noisy_speech.wav (48 kHz mono 16-bit, 10 s):
# a held-out real voice (June Wallack, asterisk-core-sounds-fr-g722, dev split) mixed with a
# held-out real noise (megaglest-data autumn rain, dev split) at 5 dB SNR. Deterministic.
#
# Usage: scripts/assets/make_assets.sh          (runs scripts/corpus/build_corpus.sh first if data/corpus is missing)
# Env:   CORPUS_CACHE as for build_corpus.sh (default data/.cache)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
corpus="$repo/data/corpus"
cache="${CORPUS_CACHE:-$repo/data/.cache}"
assets="$repo/assets"
snr_db=5
clean_rms_db=-20
start_s=2
len_s=10

[ -f "$corpus/manifest.json" ] || "$repo/scripts/corpus/build_corpus.sh" "$corpus"

# The longest June file is her continuous "demo-instruct" prompt: natural running speech.
speech=$(python3 - "$corpus/manifest.json" <<'EOF'
import json, sys
files = json.load(open(sys.argv[1]))["files"]
june = [f for f in files if f["kind"] == "speech" and f["split"] == "dev"
        and f["source"] == "asterisk-core-sounds-fr-g722"]
print(max(june, key=lambda f: (f["duration_s"], f["path"]))["path"])
EOF
)
# The whole rain recording is held out of training; the corpus keeps only 6 s of it, so take
# the full 15.8 s file from the unpacked package for a 10 s stretch.
rain="$cache/x/megaglest-data/usr/share/games/megaglest/tilesets/autumn/sounds/rain.ogg"
[ -f "$rain" ] || { echo "missing $rain: run scripts/corpus/build_corpus.sh first" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rms() { sox "$1" -n stats 2>&1 | awk '/^RMS lev dB/ {print $4}'; }
peak() { sox "$1" -n stats 2>&1 | awk '/^Pk lev dB/ {print $4}'; }

sox -R -D "$corpus/$speech" -e floating-point -b 32 "$tmp/c0.wav" \
    trim "$start_s" "$len_s" rate -v 48000 fade t 0.02 "$len_s" 0.05
sox -R -D "$rain" -e floating-point -b 32 "$tmp/n0.wav" remix - trim 3 "$len_s" rate -v 48000
gc=$(awk -v t="$clean_rms_db" -v r="$(rms "$tmp/c0.wav")" 'BEGIN {printf "%.4f", t - r}')
sox -R -D "$tmp/c0.wav" "$tmp/c1.wav" gain "$gc"
gn=$(awk -v t="$clean_rms_db" -v s="$snr_db" -v r="$(rms "$tmp/n0.wav")" 'BEGIN {printf "%.4f", t - s - r}')
sox -R -D "$tmp/n0.wav" "$tmp/n1.wav" gain "$gn"
sox -R -D -m "$tmp/c1.wav" "$tmp/n1.wav" "$tmp/m.wav"
pk=$(peak "$tmp/m.wav")
awk -v p="$pk" 'BEGIN {exit !(p > -1)}' && { echo "mixture clips (peak $pk dBFS)" >&2; exit 1; }

mkdir -p "$assets"
sox -R -D "$tmp/c1.wav" --comment "" -b 16 "$assets/clean_speech.wav"
sox -R -D "$tmp/m.wav" --comment "" -b 16 "$assets/noisy_speech.wav"
echo "speech: $speech ($start_s..$((start_s + len_s)) s), noise: megaglest-data autumn/rain.ogg (3..13 s)"
echo "clean RMS $(rms "$assets/clean_speech.wav") dBFS, noisy peak $(peak "$assets/noisy_speech.wav") dBFS, SNR $snr_db dB"
