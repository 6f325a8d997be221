"""Shared I/O for the peer denoisers: every .wav of IN_DIR → OUT_DIR (same names), 48 kHz mono float WAV."""

import argparse
import os
import sys
import time
from fractions import Fraction

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly


def run(description, make_denoiser, rate_hz=48000):
    """Parse IN_DIR OUT_DIR, apply make_denoiser()(samples) -> samples to each file, print the RTF.

    make_denoiser is called once per file and must return a function of a float32 mono array at
    rate_hz giving an array of the same length, aligned with the input."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("in_dir")
    ap.add_argument("out_dir")
    args = ap.parse_args()
    names = sorted(f for f in os.listdir(args.in_dir) if f.lower().endswith(".wav"))
    if not names:
        sys.exit(f"no .wav files in {args.in_dir}")
    os.makedirs(args.out_dir, exist_ok=True)
    audio_s = 0.0
    proc_s = 0.0
    for name in names:
        x, sr = sf.read(os.path.join(args.in_dir, name), dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        if sr != rate_hz:
            f = Fraction(rate_hz, sr)
            x = resample_poly(x, f.numerator, f.denominator).astype(np.float32)
        t0 = time.perf_counter()
        y = make_denoiser()(x)
        proc_s += time.perf_counter() - t0
        audio_s += len(x) / rate_hz
        assert len(y) == len(x), (name, len(y), len(x))
        sf.write(os.path.join(args.out_dir, name), y.astype(np.float32), rate_hz, subtype="FLOAT")
    print(f"{len(names)} files, {audio_s:.1f} s of audio in {proc_s:.1f} s: RTF {proc_s / audio_s:.4f}")
