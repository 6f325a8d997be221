#!/usr/bin/env bash
# Fetch and unpack the corpus v3 data packages (audio files only), pinned to exact Debian versions.
#
# Usage: scripts/corpus/v3/fetch.sh            (env CORPUS_CACHE, default data/.cache)
# Packages are fetched with `apt-get download PKG=VERSION` into $CORPUS_CACHE/debs and unpacked with
# `dpkg-deb --fsys-tarfile | tar -x` into $CORPUS_CACHE/x3/PKG (never installed). 0ad-data's audio
# lives in a zip inside the package; it is unzipped into the same tree. A version that the archive no
# longer carries fails loudly: update the pin and the manifest together.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cache="${CORPUS_CACHE:-$repo/data/.cache}"

# package=version (Debian 12 bookworm main); one line each, sorted.
pins=(
    0ad-data=0.0.26-1
    colobot-common-sounds=0.2.0-2
    fillets-ng-data-cs=1.0.1-1.1
    fillets-ng-data-nl=1.0.1-1.1
    freedroidrpg-data=1.0-1
    gcin-voice=0~20170223-3
    guitarix-common=0.44.1+dfsg1-2
    hedgewars-data=1.0.2-6
    hydrogen-drumkits=2017.09.19~dfsg-1
    jconvolver-config-files=1.1.0-1
    kajongg=4:22.12.3-1
    klettres-data=4:22.12.3-1
    megaglest-data=3.13.0-3
    oxygen-sounds=4:5.27.5-2
    rakarrack=0.6.1-7
    redeclipse-data=1.6.0-1
    scorched3d-data=44+dfsg-8
    sound-theme-freedesktop=0.8-2
    supertuxkart-data=1.4+dfsg-2
    torcs-data=1.3.7+dfsg-5
    tuxpaint-stamps-default=2022.06.04-1
    warzone2100-music=4.3.3-3
    wesnoth-1.16-music=1:1.16.9-1
    widelands-data=2:1.1-3
)
audio=('*.ogg' '*.oga' '*.wav' '*.flac' '*.opus' '*.mp3' '*.WAV' '*.rvb' '*/copyright')

mkdir -p "$cache/debs" "$cache/x3"
updated=0
for pin in "${pins[@]}"; do
    pkg="${pin%%=*}"; ver="${pin#*=}"
    fver="${ver/:/%3a}"
    deb=$(ls "$cache/debs/${pkg}_${fver}_"*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        [ "$updated" = 1 ] || { apt-get update -qq; updated=1; }
        (cd "$cache/debs" && apt-get download -q "$pkg=$ver" >/dev/null 2>&1) || { echo "cannot fetch $pin" >&2; exit 1; }
        deb=$(ls "$cache/debs/${pkg}_${fver}_"*.deb | head -n1)
    fi
    stamp="$cache/x3/$pkg/.extracted-$(basename "$deb")"
    [ -e "$stamp" ] && continue
    echo "extracting $(basename "$deb")"
    rm -rf "${cache:?}/x3/$pkg"; mkdir -p "$cache/x3/$pkg"
    pats=("${audio[@]}")
    [ "$pkg" = 0ad-data ] && pats+=('*/public.zip')
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$cache/x3/$pkg" --wildcards "${pats[@]}" 2>/dev/null || true
    if [ "$pkg" = 0ad-data ]; then
        z=$(find "$cache/x3/$pkg" -name public.zip | head -n1)
        python3 - "$z" "$cache/x3/$pkg/public-zip" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = sorted(n for n in z.namelist() if n.startswith("audio/") and not n.endswith("/"))
for n in names:
    z.extract(n, sys.argv[2])
print(f"  {len(names)} audio files from public.zip")
PY
        rm -f "$z"
    fi
    touch "$stamp"
done
# npm: CC0 SuperCollider samples (drones, loops, vinyl hiss), unpacked into x3/supersonic-scsynth-samples
npm_pin=supersonic-scsynth-samples@0.84.2
npm_md5=c758b0fcaa7067b7639fb1a4038421cf
mkdir -p "$cache/npm"
tgz="$cache/npm/supersonic-scsynth-samples-0.84.2.tgz"
[ -e "$tgz" ] || (cd "$cache/npm" && npm pack -q "$npm_pin" >/dev/null)
echo "$npm_md5  $tgz" | md5sum -c --quiet
if [ ! -e "$cache/x3/supersonic-scsynth-samples/.extracted" ]; then
    rm -rf "$cache/x3/supersonic-scsynth-samples"; mkdir -p "$cache/x3/supersonic-scsynth-samples"
    tar -xzf "$tgz" -C "$cache/x3/supersonic-scsynth-samples"
    touch "$cache/x3/supersonic-scsynth-samples/.extracted"
fi
echo "package versions:"
echo "  $npm_pin (npm, md5 $npm_md5)"
for pin in "${pins[@]}"; do echo "  $pin"; done
