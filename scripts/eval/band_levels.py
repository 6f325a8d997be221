#!/usr/bin/env python3
"""Level change per frequency band of enhanced dev v3 files against their clean targets, by SNR group.

    python scripts/eval/band_levels.py [--devset data/devset_v3] ENHANCED_DIR...

For each pair: the whole file's power in 0-1, 1-4, 4-8, 8-12, 12-16 and 16-24 kHz (one FFT of the file),
enhanced minus clean in dB; printed as the median over the pairs of each SNR group (< 5, 5-15, >= 15 dB,
from meta.json). Negative = the denoiser takes that band down. Both signals at 48 kHz, the same length and
aligned (dfn4 enhance keeps them so). Needs numpy and soundfile (scripts/eval/requirements-eval.txt).
"""

import argparse
import json
import os

import numpy as np
import soundfile as sf

RATE_HZ = 48000
EDGES_HZ = [0, 1000, 4000, 8000, 12000, 16000, 24001]
GROUPS = [("< 5 dB", -1e9, 5.0), ("5-15 dB", 5.0, 15.0), (">= 15 dB", 15.0, 1e9)]


def band_powers(x):
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs_hz = np.fft.rfftfreq(len(x), 1.0 / RATE_HZ)
    return np.array([power[(freqs_hz >= lo) & (freqs_hz < hi)].sum() for lo, hi in zip(EDGES_HZ, EDGES_HZ[1:])])


def read(path):
    x, rate_hz = sf.read(path, dtype="float64", always_2d=True)
    if rate_hz != RATE_HZ:
        raise SystemExit(f"{path}: {rate_hz} Hz, expected {RATE_HZ}")
    return x.mean(axis=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devset", default="data/devset_v3")
    ap.add_argument("enhanced", nargs="+")
    args = ap.parse_args()
    pairs = json.load(open(os.path.join(args.devset, "meta.json")))["pairs"]
    labels = [f"{lo // 1000}-{hi // 1000} kHz" for lo, hi in zip(EDGES_HZ, EDGES_HZ[1:])]
    print("| enhanced | SNR | pairs | " + " | ".join(labels) + " |")
    print("| --- | --- | ---: |" + " ---: |" * len(labels))
    for enhanced in args.enhanced:
        clean_powers = {}
        for name, lo, hi in GROUPS:
            changes_db = []
            for p in pairs:
                if not lo <= p["snr_db"] < hi:
                    continue
                clean = clean_powers.setdefault(p["name"], band_powers(read(os.path.join(args.devset, "clean", p["name"]))))
                enh = band_powers(read(os.path.join(enhanced, p["name"])))
                changes_db.append(10 * np.log10((enh + 1e-20) / (clean + 1e-20)))
            medians = np.median(np.array(changes_db), axis=0)
            print(f"| {enhanced} | {name} | {len(changes_db)} | " + " | ".join(f"{m:+.1f}" for m in medians) + " |")


if __name__ == "__main__":
    main()
