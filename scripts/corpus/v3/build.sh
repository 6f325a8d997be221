#!/usr/bin/env bash
# Build corpus v3 end to end: packages -> measurements -> rooms -> manifest -> babble -> dev set v3 -> shards.
#
# Usage: scripts/corpus/v3/build.sh            (from the repository root)
# Env:   CORPUS_CACHE  downloads, unpacked packages and everything generated (default data/.cache)
#        JOBS          worker processes for the measurements and rooms (default 1; the machine is shared)
#        SHARDS        0 to skip the shards (default 1)
# Writes data/manifest.tsv and data/manifest_dropped.tsv (committed), data/devset_v3/ and
# $CORPUS_CACHE/v3/{measure.jsonl,rir,babble,shards} (not committed). Needs corpus v2 (data/corpus, made by
# scripts/corpus/build_corpus.sh, which this runs when it is missing) for the rows of today's sources.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cd "$repo"
cache="${CORPUS_CACHE:-$repo/data/.cache}"
jobs="${JOBS:-1}"
venv="$cache/venv-v3"
t0=$(date +%s)
step() { echo "== $(($(date +%s) - t0)) s: $*"; }

need=()
command -v sox >/dev/null || need+=(sox libsox-fmt-all)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v npm >/dev/null || need+=(npm)
if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r "$here/requirements.txt"
fi
py="$venv/bin/python"

step "fetch"
CORPUS_CACHE="$cache" "$here/fetch.sh"
step "measure"
nice -n 10 "$py" "$here/measure_all.py" --x3 "$cache/x3" --cache "$cache/v3/measure.jsonl" --jobs "$jobs"
step "rooms"
nice -n 10 "$py" "$here/rooms.py" --out "$cache/v3/rir" --count 1100 --jobs "$jobs"
if [ ! -f data/corpus/manifest.json ]; then
    step "corpus v2 (scripts/corpus/build_corpus.sh)"
    JOBS="$jobs" scripts/corpus/build_corpus.sh
fi
step "v2 rows"
"$py" "$here/v2_rows.py" --v2 data/corpus --out "$cache/v3/v2_rows.tsv"
step "manifest"
rm -f "$cache/v3/babble/babble.tsv"
"$py" "$here/inventory.py" --cache "$cache"
step "babble"
nice -n 10 "$py" "$here/babble.py" --cache "$cache" --manifest data/manifest.tsv
"$py" "$here/inventory.py" --cache "$cache"
step "dev set v3"
nice -n 10 "$py" "$here/make_devset_v3.py" --manifest data/manifest.tsv --cache "$cache" --out data/devset_v3
if [ "${SHARDS:-1}" != 0 ]; then
    step "shards"
    rm -rf "$cache/v3/shards"
    nice -n 10 "$py" "$here/shard.py" build --manifest data/manifest.tsv --cache "$cache" --out "$cache/v3/shards" \
        --split train --music-hours 6
fi
step "summary"
"$py" "$here/summary.py"
md5sum data/manifest.tsv data/manifest_dropped.tsv
(cd data/devset_v3 && find . -type f | sort | xargs md5sum | md5sum | sed 's/^/devset_v3 tree md5 /')
du -sh "$cache/debs" "$cache/x3" "$cache/v3" data/devset_v3 2>/dev/null || true
step "done"
