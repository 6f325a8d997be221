#!/usr/bin/env python3
"""Build the fixed dfn4 development set: noisy/clean 48 kHz WAV pairs from the corpus dev split.

    python scripts/corpus/make_devset.py [--corpus data/corpus] [--out data/devset] [--pairs 40] [--seconds 6]

Writes OUT/clean/NNN.wav and OUT/noisy/NNN.wav (mono, 48 kHz, 16-bit, same length, sample-aligned) and
OUT/meta.json (speech file and offset, noise file, SNR, level of every pair). Only files of the corpus's
dev split are used: voices and noise recordings that training never sees. Deterministic (fixed seed,
sorted inputs, no dither). Needs numpy, scipy and soundfile (scripts/eval/requirements-eval.txt).
"""

import argparse
import json
import math
import os
import random
import shutil
from fractions import Fraction

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

RATE_HZ = 48000
SEED = "dfn4-devset-v1"
# Share of pairs per speech source: real voices first.
SPEECH_SHARE = {
    "asterisk-core-sounds-fr-g722": 0.70,
    "klettres-data": 0.15,
    "espeak-ng": 0.10,
    "flite": 0.05,
}


def load_48k(path):
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if sr != RATE_HZ:
        f = Fraction(RATE_HZ, sr)
        x = resample_poly(x, f.numerator, f.denominator)
    return x


def rms(x):
    return math.sqrt(float(np.mean(x * x)) + 1e-20)


def tile(x, n, rng):
    """Repeat x (with short random gaps for sound effects) until it is n samples long."""
    parts = []
    total = 0
    while total < n:
        parts.append(x)
        total += len(x)
        gap = int(rng.uniform(0.0, 0.6) * RATE_HZ)
        parts.append(np.zeros(gap))
        total += gap
    y = np.concatenate(parts)
    start = rng.randrange(0, max(1, len(y) - n))
    return y[start:start + n]


def write_wav(path, x):
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    sf.write(path, pcm, RATE_HZ, subtype="PCM_16")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--out", default="data/devset")
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--snr-min-db", type=float, default=-5.0)
    ap.add_argument("--snr-max-db", type=float, default=15.0)
    args = ap.parse_args()

    files = json.load(open(os.path.join(args.corpus, "manifest.json")))["files"]
    dev = [f for f in files if f["split"] == "dev"]
    speech = {}
    for f in dev:
        if f["kind"] == "speech":
            speech.setdefault(f["source"], []).append(f["path"])
    noise = sorted(f["path"] for f in dev if f["kind"] == "noise")
    ambience = [p for p in noise if "megaglest" in p]
    rng = random.Random(SEED)

    n = args.pairs
    counts = {s: int(round(share * n)) for s, share in SPEECH_SHARE.items() if s in speech}
    main_src = max(counts, key=counts.get)
    counts[main_src] += n - sum(counts.values())
    plan = []
    for src in sorted(counts):
        paths = sorted(speech[src])
        for k in range(counts[src]):
            plan.append((src, paths[k % len(paths)]))
    rng.shuffle(plan)
    # SNRs evenly spread over the range, in shuffled order
    snrs = [args.snr_min_db + (args.snr_max_db - args.snr_min_db) * i / max(1, n - 1) for i in range(n)]
    rng.shuffle(snrs)
    noise_order = list(noise)
    rng.shuffle(noise_order)

    length = int(round(args.seconds * RATE_HZ))
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    os.makedirs(os.path.join(args.out, "clean"))
    os.makedirs(os.path.join(args.out, "noisy"))
    cache = {}

    def get(path):
        if path not in cache:
            cache[path] = load_48k(os.path.join(args.corpus, path))
        return cache[path]

    meta = []
    for i, ((src, spath), snr_db) in enumerate(zip(plan, snrs)):
        s = get(spath)
        if len(s) > length:
            off = rng.randrange(0, len(s) - length)
            clean = s[off:off + length].copy()
        else:
            off = 0
            pad = length - len(s)
            lead = rng.randrange(0, pad + 1)
            clean = np.concatenate([np.zeros(lead), s, np.zeros(pad - lead)])
        # 10 ms fades so a cut mid-word does not click
        fade = int(0.01 * RATE_HZ)
        ramp = np.linspace(0.0, 1.0, fade)
        clean[:fade] *= ramp
        clean[-fade:] *= ramp[::-1]
        # every second pair gets a stationary ambience, the others a noise taken in turn
        npath = ambience[i // 2 % len(ambience)] if i % 2 == 0 else noise_order[i % len(noise_order)]
        nz = tile(get(npath), length, rng)
        level_db = rng.uniform(-32.0, -18.0)
        clean *= 10 ** (level_db / 20) / rms(clean)
        nz *= rms(clean) / rms(nz) * 10 ** (-snr_db / 20)
        noisy = clean + nz
        peak = float(np.max(np.abs(noisy)))
        if peak > 0.89:  # keep the mixture 1 dB under full scale; scale both alike
            clean *= 0.89 / peak
            noisy *= 0.89 / peak
        name = f"{i:03d}.wav"
        write_wav(os.path.join(args.out, "clean", name), clean)
        write_wav(os.path.join(args.out, "noisy", name), noisy)
        meta.append(dict(name=name, speech=spath, speech_source=src, speech_offset_s=round(off / RATE_HZ, 4),
                         noise=npath, snr_db=round(snr_db, 3), speech_rms_dbfs=round(20 * math.log10(rms(clean)), 2)))
    with open(os.path.join(args.out, "meta.json"), "w") as fh:
        json.dump(dict(rate_hz=RATE_HZ, seconds=args.seconds, seed=SEED, pairs=meta), fh, indent=1)
        fh.write("\n")
    by_src = {}
    for m in meta:
        by_src[m["speech_source"]] = by_src.get(m["speech_source"], 0) + 1
    print(f"{len(meta)} pairs of {args.seconds} s in {args.out}: {by_src}")


if __name__ == "__main__":
    main()
