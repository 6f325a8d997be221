#!/usr/bin/env python3
"""Level change per frequency band of enhanced dev v3 files against their clean targets, by SNR group.

    python scripts/eval/band_levels.py [--devset data/devset_v3] ENHANCED_DIR...

For each pair: the whole file's power in 0-1, 1-4, 4-8, 8-12, 12-16 and 16-24 kHz (one FFT of the file),
enhanced minus clean in dB; printed as the median over the pairs of each SNR group (< 5, 5-15, >= 15 dB,
from meta.json). Negative = the denoiser takes that band down. The pairs are loaded as transparency.py loads
them (mono, the clean's rate, delay-aligned and cut to one length). Needs scripts/eval/requirements-eval.txt.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transparency import load_pair  # noqa: E402

# The top edge is 1 Hz above 24 kHz so that the top band keeps the Nyquist bin of a 48 kHz file.
EDGES_HZ = [0, 1000, 4000, 8000, 12000, 16000, 24001]
GROUPS = [("< 5 dB", -1e9, 5.0), ("5-15 dB", 5.0, 15.0), (">= 15 dB", 15.0, 1e9)]


def band_powers(x, rate_hz):
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs_hz = np.fft.rfftfreq(len(x), 1.0 / rate_hz)
    return np.array([power[(freqs_hz >= lo) & (freqs_hz < hi)].sum() for lo, hi in zip(EDGES_HZ, EDGES_HZ[1:])])


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
        for name, lo, hi in GROUPS:
            changes_db = []
            for p in pairs:
                if not lo <= p["snr_db"] < hi:
                    continue
                clean, enh, rate_hz, _ = load_pair(os.path.join(args.devset, "clean", p["name"]),
                                                   os.path.join(enhanced, p["name"]))
                clean_db, enh_db = (10 * np.log10(band_powers(x, rate_hz) + 1e-20) for x in (clean, enh))
                changes_db.append(enh_db - clean_db)
            medians = np.median(np.array(changes_db), axis=0)
            print(f"| {enhanced} | {name} | {len(changes_db)} | " + " | ".join(f"{m:+.1f}" for m in medians) + " |")


if __name__ == "__main__":
    main()
