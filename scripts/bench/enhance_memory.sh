#!/usr/bin/env bash
# Peak RSS of `dfn4 enhance` (release) on mono 48 kHz files of 10 s and 10 minutes: the offline path
# streams blocks, so the two must be within 3 MiB and both at most 25 MiB. Prints one line per file and
# exits non-zero when a bound is missed. Needs GNU time (/usr/bin/time, Debian package `time`).
# Usage: scripts/bench/enhance_memory.sh [LONG_SECONDS]   (default 600)
set -euo pipefail
cd "$(dirname "$0")/../.."
long_s="${1:-600}"
cargo build --release --quiet
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work" "$long_s" <<'PY'
import math, random, struct, sys, wave
work, long_s = sys.argv[1], int(sys.argv[2])
for name, secs in (("short", 10), ("long", long_s)):
    rng = random.Random(1)
    with wave.open(f"{work}/{name}.wav", "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(48000)
        for s in range(secs):
            block = [int(32767 * (0.3 * math.sin(2 * math.pi * 220 * (s * 48000 + i) / 48000)
                                  + 0.1 * (2 * rng.random() - 1))) for i in range(48000)]
            w.writeframes(struct.pack(f"<{len(block)}h", *block))
PY
peak_kib() {
  /usr/bin/time -v target/release/dfn4 enhance -y "$1" "$work/out.wav" 2>&1 >/dev/null |
    awk '/Maximum resident set size/ {print $6}'
}
short_kib=$(peak_kib "$work/short.wav")
long_kib=$(peak_kib "$work/long.wav")
python3 - "$short_kib" "$long_kib" "$long_s" <<'PY'
import sys
short, long_, long_s = int(sys.argv[1]) / 1024, int(sys.argv[2]) / 1024, sys.argv[3]
print(f"peak RSS: 10 s {short:.1f} MiB, {long_s} s {long_:.1f} MiB, difference {long_ - short:+.1f} MiB")
ok = max(short, long_) <= 25 and abs(long_ - short) <= 3
print("within bounds (<= 25 MiB, within 3 MiB)" if ok else "BOUND MISSED")
sys.exit(0 if ok else 1)
PY
