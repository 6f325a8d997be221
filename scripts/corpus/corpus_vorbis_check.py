#!/usr/bin/env python3
"""Measure what Ogg Vorbis costs a corpus clip, to choose the encoder quality.

For each FLAC given, and each quality and stored level, the clip is encoded with sox
(`-C q`, as scripts/corpus/corpus_build.py does), decoded back and compared with the FLAC:
size ratio, waveform SNR, log-spectral distance (LSD, frames within 50 dB of the
loudest) and, for speech, PESQ-WB against the FLAC (16 kHz; 4.64 means identical).

    python3 scripts/corpus/corpus_vorbis_check.py FILE.flac... \
        [--qualities 2,3,4,5,6] [--gains-db 0,10]

Needs numpy, soundfile and pesq (scripts/eval/requirements-eval.txt); sox on PATH.
"""

import argparse
import os
import subprocess
import tempfile

import numpy as np
import soundfile as sf
from pesq import pesq


def sox(*args):
    subprocess.run(["sox", "-R", "-D", *args], check=True, capture_output=True)


def lsd_db(ref, deg, rate_hz):
    """Mean log-spectral distance (dB) over frames within 50 dB of the loudest frame."""
    n = int(0.032 * rate_hz)
    hop = n // 2
    win = np.hanning(n)
    frames = range(0, min(len(ref), len(deg)) - n, hop)
    r = np.array([np.abs(np.fft.rfft(win * ref[i:i + n])) ** 2 for i in frames]) + 1e-12
    d = np.array([np.abs(np.fft.rfft(win * deg[i:i + n])) ** 2 for i in frames]) + 1e-12
    e = 10 * np.log10(r.sum(axis=1))
    keep = e > e.max() - 50
    diff = 10 * np.log10(r[keep]) - 10 * np.log10(d[keep])
    return float(np.mean(np.sqrt(np.mean(diff ** 2, axis=1))))


def band_snr_db(ref, deg, rate_hz, bands_hz=((0, 4000), (4000, 8000), (8000, 16000), (16000, 24000))):
    """Spectral SNR (dB) per band: ref energy over error energy, whole clip; nan where ref is empty."""
    n = 1024
    win = np.hanning(n)
    frames = range(0, min(len(ref), len(deg)) - n, n // 2)
    r = np.array([np.fft.rfft(win * ref[i:i + n]) for i in frames])
    d = np.array([np.fft.rfft(win * deg[i:i + n]) for i in frames])
    f = np.fft.rfftfreq(n, 1 / rate_hz)
    out = []
    for lo, hi in bands_hz:
        sel = (f >= lo) & (f < hi)
        er = np.sum(np.abs(r[:, sel]) ** 2)
        ee = np.sum(np.abs(r[:, sel] - d[:, sel]) ** 2)
        # bands the source does not reach (or holds < -70 dB of the clip's energy) are skipped
        out.append(10 * np.log10(er / max(ee, 1e-20)) if sel.any() and er > 1e-7 * np.sum(np.abs(r) ** 2)
                   else float("nan"))
    return out


def envelope_err_db(ref, deg, rate_hz, bands_hz=((0, 4000), (4000, 8000), (8000, 16000), (16000, 24000))):
    """Mean |dB| difference of band energies over 20 ms frames, per band: what ERB gains see.

    Only frames where the band is within 40 dB of its loudest frame count; nan for bands the
    source does not reach."""
    n = int(0.02 * rate_hz)
    win = np.hanning(n)
    frames = range(0, min(len(ref), len(deg)) - n, n // 2)
    r = np.array([np.abs(np.fft.rfft(win * ref[i:i + n])) ** 2 for i in frames])
    d = np.array([np.abs(np.fft.rfft(win * deg[i:i + n])) ** 2 for i in frames])
    f = np.fft.rfftfreq(n, 1 / rate_hz)
    total = r.sum()
    out = []
    for lo, hi in bands_hz:
        sel = (f >= lo) & (f < hi)
        er, ed = r[:, sel].sum(axis=1), d[:, sel].sum(axis=1)
        if not sel.any() or er.sum() < 1e-7 * total:
            out.append(float("nan"))
            continue
        keep = er > er.max() * 1e-4
        out.append(float(np.mean(np.abs(10 * np.log10((ed[keep] + 1e-20) / er[keep])))))
    return out


def to16k(x, rate_hz, tmp):
    src, dst = os.path.join(tmp, "a.wav"), os.path.join(tmp, "b.wav")
    sf.write(src, x, rate_hz, subtype="FLOAT")
    sox(src, "-r", "16000", dst)
    return sf.read(dst, dtype="float64")[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--qualities", default="2,3,4,5,6")
    ap.add_argument("--gains-db", default="0,10", help="level changes applied before encoding")
    args = ap.parse_args()
    print(f"{'file':40s} {'gain':>4s} {'q':>2s} {'ratio':>6s} {'kbps':>6s} {'SNR':>6s} {'LSD':>5s} {'PESQ':>5s}  band SNR dB 0-4k 4-8k 8-16k 16-24k | envelope err dB (same bands)")
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.files:
            ref0, rate = sf.read(path, dtype="float64")
            speech = "/speech/" in path or not os.path.basename(path).startswith(
                ("megaglest", "widelands", "oxygen", "freedesktop"))
            for gain in (float(g) for g in args.gains_db.split(",")):
                ref = ref0 * 10 ** (gain / 20)
                wav = os.path.join(tmp, "ref.wav")
                sf.write(wav, ref, rate, subtype="PCM_16")
                flac = os.path.join(tmp, "ref.flac")
                sox(wav, "--comment", "", "-C", "8", flac)
                ref = sf.read(flac, dtype="float64")[0]
                for q in args.qualities.split(","):
                    ogg = os.path.join(tmp, f"q{q}.ogg")
                    sox(flac, "--comment", "", "-C", q, ogg)
                    deg = sf.read(ogg, dtype="float64")[0]
                    m = min(len(ref), len(deg))
                    err = deg[:m] - ref[:m]
                    snr = 10 * np.log10(np.sum(ref[:m] ** 2) / max(np.sum(err ** 2), 1e-20))
                    ratio = os.path.getsize(flac) / os.path.getsize(ogg)
                    kbps = os.path.getsize(ogg) * 8 / 1000 / (len(ref) / rate)
                    pq = float("nan")
                    if speech:
                        r16, d16 = to16k(ref[:m], rate, tmp), to16k(deg[:m], rate, tmp)
                        pq = pesq(16000, r16, d16, "wb")
                    print(f"{os.path.basename(path)[:40]:40s} {gain:4.0f} {q:>2s} {ratio:6.2f} {kbps:6.1f} "
                          f"{snr:6.1f} {lsd_db(ref[:m], deg[:m], rate):5.2f} {pq:5.2f}  "
                          + " ".join(f"{b:5.1f}" for b in band_snr_db(ref[:m], deg[:m], rate)) + " | "
                          + " ".join(f"{b:4.2f}" for b in envelope_err_db(ref[:m], deg[:m], rate))
                          + ("" if len(deg) == len(ref) else f"  length {len(deg)} vs {len(ref)}"), flush=True)


if __name__ == "__main__":
    main()
