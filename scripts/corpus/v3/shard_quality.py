#!/usr/bin/env python3
"""What the shard encoding (shard.py) does to clean speech: PESQ-WB of decoded vs source, and sizes.

    python scripts/corpus/v3/shard_quality.py [--manifest data/manifest.tsv] [--cache data/.cache]
        [--snr-db 30,35,40,45] [--speakers 48] [--seconds 8]

For each of up to --speakers train speakers (recorded speech, >= 22.05 kHz, sorted, every k-th), that
speaker's first clips (sorted by path) are joined into one utterance of >= --seconds at the clip rate; it is
encoded at each mantissa width, decoded, and both signals are resampled to 16 kHz the same way for PESQ-WB
(PyPI pesq; 4.64 = identical). Sizes: bytes of the encoding against 16-bit PCM and FLAC (level 8) of the same
samples. Deterministic.
"""

import argparse
import csv
import io
import os
import sys
from collections import defaultdict
from fractions import Fraction

import numpy as np
import soundfile as sf
from pesq import pesq
from scipy.signal import resample_poly

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shard import encode  # noqa: E402


def to16k(x, sr):
    fr = Fraction(16000, sr)
    return resample_poly(x, fr.numerator, fr.denominator)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", default="data/manifest.tsv")
    ap.add_argument("--cache", default="data/.cache")
    ap.add_argument("--snr-db", default="30,35,40,45")
    ap.add_argument("--speakers", type=int, default=48)
    ap.add_argument("--seconds", type=float, default=8.0)
    a = ap.parse_args()
    bits = [None if b == "pcm16" else float(b) for b in a.snr_db.split(",")]
    by = defaultdict(list)
    with open(a.manifest, newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            if (r["kind"] == "speech" and r["origin"] == "recorded" and r["split"] == "train"
                    and r["path"].startswith("x3/") and int(r["rate_hz"]) >= 22050):
                by[(r["speaker"], r["rate_hz"])].append(r["path"])
    keys = sorted(by)
    step = max(1, len(keys) // a.speakers)
    keys = keys[::step][: a.speakers]
    res = defaultdict(list)
    size = defaultdict(int)
    print("speaker\trate\tseconds\t" + "\t".join(f"pesq_{b}" for b in bits))
    for spk, rate in keys:
        parts, tot = [], 0
        for p in sorted(by[(spk, rate)]):
            x, sr = sf.read(os.path.join(a.cache, p), dtype="float64", always_2d=True)
            parts.append(x.mean(axis=1))
            tot += len(parts[-1]) / sr
            if tot >= a.seconds:
                break
        x = np.concatenate(parts)
        sr = int(rate)
        ref = to16k(x, sr)
        pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
        buf = io.BytesIO()
        sf.write(buf, pcm, sr, format="FLAC", subtype="PCM_16")
        size["pcm16"] += 2 * len(x)
        size["flac"] += len(buf.getvalue())
        row = []
        for b in bits:
            payload, y = encode(x, b)
            size[f"s{b}"] += len(payload)
            score = pesq(16000, ref, to16k(y.astype(np.float64), sr), "wb")
            res[b].append(score)
            row.append(f"{score:.3f}")
        print(f"{spk}\t{rate}\t{len(x) / sr:.1f}\t" + "\t".join(row), flush=True)
    print()
    print(f"{len(keys)} utterances; 16-bit PCM {size['pcm16'] / 1e6:.2f} MB, FLAC {size['flac'] / 1e6:.2f} MB")
    for b in bits:
        v = np.array(res[b])
        name = "16-bit lossless" if b is None else f"{b:g} dB"
        print(f"{name}: PESQ-WB mean {v.mean():.3f}, min {v.min():.3f}, p10 {np.percentile(v, 10):.3f}; "
              f"{size[f's{b}'] / 1e6:.2f} MB = {size['pcm16'] / size[f's{b}']:.2f}x smaller than PCM16, "
              f"{size['flac'] / size[f's{b}']:.2f}x smaller than FLAC")


if __name__ == "__main__":
    main()
