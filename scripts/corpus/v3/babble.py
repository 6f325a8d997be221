#!/usr/bin/env python3
"""Babble noise for corpus v3, mixed from the corpus's own recorded speech, split by split.

    python scripts/corpus/v3/babble.py --cache data/.cache --manifest data/manifest.tsv [--train 40 --dev 10]

Train babble uses train speakers only, dev babble dev speakers only (so a dev mixture's babble never holds a
train voice, and training never hears a dev voice). Each file: 30 s at 48 kHz, 4-8 talkers of distinct
speakers; each talker is a random sequence of that speaker's clips (0.05-0.4 s apart) scaled to the same
RMS, the sum scaled to -26 dBFS RMS, 16-bit FLAC. Seeded per file with random.Random(SEED:split:index);
input lists sorted. Writes $CACHE/v3/babble/{train,dev}/babbleNNN.flac and $CACHE/v3/babble/babble.tsv
(rows in manifest columns, which inventory.py merges).
"""

import argparse
import csv
import hashlib
import math
import os
import random
from fractions import Fraction

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SEED = "dfn4-babble-v3"
RATE_HZ = 48000
SECONDS = 30.0
RMS_DB = -26.0


def load48(path):
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if sr != RATE_HZ:
        fr = Fraction(RATE_HZ, sr)
        x = resample_poly(x, fr.numerator, fr.denominator)
    return x


def talker(rng, clips, root, n):
    out = np.zeros(0)
    while len(out) < n:
        c = clips[rng.randrange(len(clips))]
        x = load48(os.path.join(root, c["path"][3:]))
        out = np.concatenate([out, x, np.zeros(int(rng.uniform(0.05, 0.4) * RATE_HZ))])
    start = rng.randrange(0, len(out) - n + 1)
    y = out[start:start + n]
    return y / math.sqrt(np.mean(y * y) + 1e-12)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default="data/.cache")
    ap.add_argument("--manifest", default="data/manifest.tsv")
    ap.add_argument("--train", type=int, default=40)
    ap.add_argument("--dev", type=int, default=10)
    a = ap.parse_args()
    with open(a.manifest, newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["kind"] == "speech" and r["origin"] == "recorded"
                and r["path"].startswith("x3/") and int(r["rate_hz"]) >= 16000 and float(r["active_s"]) >= 0.5]
    root = os.path.join(a.cache, "x3")
    out_dir = os.path.join(a.cache, "v3", "babble")
    table = []
    n = int(SECONDS * RATE_HZ)
    for split, count in (("train", a.train), ("dev", a.dev)):
        by_spk = {}
        for r in sorted(rows, key=lambda r: r["path"]):
            if r["split"] == split:
                by_spk.setdefault(r["speaker"], []).append(r)
        speakers = sorted(by_spk)
        os.makedirs(os.path.join(out_dir, split), exist_ok=True)
        for k in range(count):
            rng = random.Random(f"{SEED}:{split}:{k}")
            who = rng.sample(speakers, min(len(speakers), rng.randint(4, 8)))
            mix = sum(talker(rng, by_spk[s], root, n) for s in who)
            mix *= 10 ** (RMS_DB / 20) / math.sqrt(np.mean(mix * mix))
            peak = np.max(np.abs(mix))
            if peak > 0.89:
                mix *= 0.89 / peak
            name = f"babble{k:03d}.flac"
            path = os.path.join(out_dir, split, name)
            sf.write(path, np.round(mix * 32767).astype(np.int16), RATE_HZ, subtype="PCM_16")
            md5 = hashlib.md5(open(path, "rb").read()).hexdigest()
            table.append(dict(path=f"v3/babble/{split}/{name}", source="babble (corpus v3 speech)", kind="noise",
                              origin="synthetic", speaker="", language="", seconds=f"{SECONDS:.0f}",
                              active_s=f"{SECONDS:.0f}", rate_hz=str(RATE_HZ), bandwidth_hz="", rolloff995_hz="",
                              split=split, category="babble", flags="talkers=" + "+".join(who), md5=md5))
            print(f"{split} {name}: {len(who)} talkers", flush=True)
    cols = list(table[0].keys())
    with open(os.path.join(out_dir, "babble.tsv"), "w") as fh:
        fh.write("\t".join(cols) + "\n")
        for t in table:
            fh.write("\t".join(t[c] for c in cols) + "\n")


if __name__ == "__main__":
    main()
