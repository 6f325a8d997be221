#!/usr/bin/env python3
"""How far enhanced outputs are from reference outputs, in dB below the reference signal.

    python scripts/eval/output_diff.py REF_DIR OTHER_DIR [OTHER_DIR ...]

For every WAV file of REF_DIR (e.g. `dfn4 enhance --backend native`, f32 weights) and the file of the
same name in each OTHER_DIR (e.g. `--backend native-i8`): 10·log10(Σ(other − ref)² / Σ ref²), the
energy of the difference relative to the reference output (more negative = closer; −∞ if identical).
Prints the worst (highest) and the median over the files, and the largest sample difference.
Needs numpy and soundfile (scripts/requirements-eval.txt).
"""

import math
import os
import sys

import numpy as np
import soundfile as sf


def diff_db(ref, other):
    n = min(len(ref), len(other))
    ref, other = ref[:n], other[:n]
    e = float(np.sum((other - ref) ** 2))
    return -math.inf if e == 0 else 10 * math.log10(e / float(np.sum(ref ** 2)))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ref_dir = sys.argv[1]
    names = sorted(f for f in os.listdir(ref_dir) if f.endswith(".wav"))
    print(f"| outputs vs {ref_dir} | files | worst dB | median dB | max abs sample diff |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for other_dir in sys.argv[2:]:
        dbs, peak = [], 0.0
        for name in names:
            ref, _ = sf.read(os.path.join(ref_dir, name), dtype="float64")
            other, _ = sf.read(os.path.join(other_dir, name), dtype="float64")
            dbs.append(diff_db(ref, other))
            n = min(len(ref), len(other))
            peak = max(peak, float(np.max(np.abs(ref[:n] - other[:n]))))
        print(f"| {other_dir} | {len(dbs)} | {max(dbs):.1f} | {float(np.median(dbs)):.1f} | {peak:.2e} |")


if __name__ == "__main__":
    main()
