#!/usr/bin/env python3
"""Golden vectors for the DSP port, computed by libDF itself (PyPI DeepFilterLib 0.5.6, module `libdf`).

Signal: an espeak-ng sentence resampled to 48 kHz with sox (no dither, fixed seed), plus seeded white
noise and a 50 Hz hum, trimmed to FRAMES hops. Outputs (little-endian f32, row-major) in tests/data/:

  golden_input.f32   [T*480]          the noisy input signal
  golden_window.f32  [960]            libDF's analysis/synthesis window
  golden_spec.f32    [T][481][2]      DF.analysis (streaming STFT, re/im interleaved)
  golden_erb.f32     [T][32]          erb_norm(erb(spec, widths, db=True), alpha)
  golden_cplx.f32    [T][2][96]       unit_norm(spec[:, :96], alpha), real parts then imaginary parts
  golden_gains.f32   [T][32]          seeded random ERB gains in [0, 1)
  golden_istft.f32   [T*480]          DF.synthesis(spec * erb_inv(gains))
  golden_manifest.json                sizes, ERB widths, alpha, provenance

Usage: python3 -m venv .venv-golden && .venv-golden/bin/pip install -r scripts/assets/requirements-golden.txt
       .venv-golden/bin/python scripts/assets/make_golden.py   (needs espeak-ng and sox on PATH)
"""
import json
import math
import os
import subprocess
import sys
import tempfile
from importlib import metadata

import numpy as np
import libdf

SR = 48_000
FFT = 960
HOP = 480
NB_ERB = 32
MIN_NB_ERB_FREQS = 2
NB_DF = 96
NORM_TAU_S = 1.0
FRAMES = 128
SEED = 20_240_601
TEXT = "The quick brown fox jumps over the lazy dog, and then it rests."
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data")


def calc_norm_alpha(sr: int, hop: int, tau: float) -> float:
    """libDF's `calc_norm_alpha`, in f32 like the Rust code (not exposed by the bindings)."""
    f = np.float32
    alpha = np.exp(-f(hop) / f(sr) / f(tau), dtype=np.float32)
    precision = 3
    while True:
        scale = f(10**precision)
        a = f(np.round(alpha * scale) / scale)
        if a < 1.0:
            return float(a)
        precision += 1


def speech_48k() -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "speech.wav")
        raw = os.path.join(tmp, "speech.f32")
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", wav, TEXT], check=True)
        # -R: repeatable (fixed seed), -D: no dither; raw f32 mono at 48 kHz.
        subprocess.run(
            ["sox", "-R", "-D", wav, "-t", "raw", "-e", "floating-point", "-b", "32", "-L", "-c", "1",
             "-r", str(SR), raw],
            check=True,
        )
        return np.fromfile(raw, dtype="<f4")


def noisy_signal() -> np.ndarray:
    n = FRAMES * HOP
    speech = speech_48k()
    if len(speech) < n:
        speech = np.pad(speech, (0, n - len(speech)))
    speech = speech[:n].astype(np.float64)
    speech *= 0.3 / max(np.abs(speech).max(), 1e-9)
    rng = np.random.default_rng(SEED)
    t = np.arange(n) / SR
    noise = rng.standard_normal(n) + 2.0 * np.sin(2 * math.pi * 50.0 * t)
    snr_db = 10.0
    p_s = np.mean(speech**2)
    noise *= math.sqrt(p_s / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (speech + noise).astype(np.float32)


def write_f32(name: str, arr: np.ndarray) -> dict:
    arr = np.ascontiguousarray(arr, dtype="<f4")
    arr.tofile(os.path.join(OUT_DIR, name))
    return {"file": name, "shape": list(arr.shape)}


def main() -> int:
    os.makedirs(OUT_DIR, exist_ok=True)
    x = noisy_signal()
    rng = np.random.default_rng(SEED + 1)

    df = libdf.DF(SR, FFT, HOP, NB_ERB, MIN_NB_ERB_FREQS)
    widths = df.erb_widths()
    alpha = calc_norm_alpha(SR, HOP, NORM_TAU_S)

    spec = df.analysis(x[None, :])  # [1, T, 481] complex64, fresh state
    assert spec.shape == (1, FRAMES, FFT // 2 + 1), spec.shape
    erb = libdf.erb_norm(libdf.erb(spec, widths, True), alpha)  # [1, T, 32]
    cplx = libdf.unit_norm(np.ascontiguousarray(spec[..., :NB_DF]), alpha)  # [1, T, 96]
    gains = rng.uniform(0.0, 1.0, size=(1, FRAMES, NB_ERB)).astype(np.float32)
    bin_gains = libdf.erb_inv(gains, widths)  # [1, T, 481]
    spec_g = np.ascontiguousarray((spec * bin_gains).astype(np.complex64))
    istft = df.synthesis(spec_g)  # [1, T*480], fresh state

    files = {
        "input": write_f32("golden_input.f32", x),
        "window": write_f32("golden_window.f32", df.fft_window()),
        "spec": write_f32("golden_spec.f32", np.stack([spec[0].real, spec[0].imag], axis=-1)),
        "erb": write_f32("golden_erb.f32", erb[0]),
        "cplx": write_f32("golden_cplx.f32", np.stack([cplx[0].real, cplx[0].imag], axis=1)),
        "gains": write_f32("golden_gains.f32", gains[0]),
        "istft": write_f32("golden_istft.f32", istft[0]),
    }
    manifest = {
        "generator": "scripts/assets/make_golden.py",
        "reference": f"DeepFilterLib {metadata.version('DeepFilterLib')} (libdf)",
        "espeak_ng": subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip(),
        "text": TEXT,
        "seed": SEED,
        "sr_hz": SR,
        "fft_size": FFT,
        "hop_size": HOP,
        "frames": FRAMES,
        "nb_erb": NB_ERB,
        "nb_df": NB_DF,
        "min_nb_erb_freqs": MIN_NB_ERB_FREQS,
        "norm_alpha": alpha,
        "erb_widths": [int(w) for w in widths],
        "files": files,
    }
    with open(os.path.join(OUT_DIR, "golden_manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT_DIR, v["file"])) for v in files.values())
    print(f"wrote {len(files)} vectors ({total / 1e6:.2f} MB), alpha={alpha}, widths={[int(w) for w in widths]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
