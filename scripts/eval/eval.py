#!/usr/bin/env python3
"""Score enhanced speech against clean references: PESQ-WB, STOI, ESTOI, SI-SDR, DNSMOS.

    python scripts/eval/eval.py --clean data/devset/clean \\
        --enhanced noisy=data/devset/noisy --enhanced dfn4=out/dfn4 [--json results.json]

Each --enhanced is NAME=DIR (or DIR, named after its folder) holding files with the same names as
the clean folder. Every pair is brought to 16 kHz mono, the enhanced signal is delay-aligned to the
reference by cross-correlation (within --max-delay-ms; the delay found is reported), both are cut to
the same length, then scored:
  PESQ-WB  ITU-T P.862.2 (PyPI `pesq`), at 16 kHz
  STOI / ESTOI  (PyPI `pystoi`), at 16 kHz (pystoi resamples to 10 kHz itself)
  SI-SDR   scale-invariant SDR in dB, at 16 kHz (the references are band-limited to <= 8 kHz anyway)
  DNSMOS   non-intrusive P.835 SIG/BAK/OVRL (PyPI `speechmos`, ONNX models bundled, offline),
           on the enhanced signal only; skipped with a note if speechmos does not import.
Prints a Markdown table of means (one row per enhanced folder) and writes per-file scores to JSON.

With --meta PATH (a dev set v3 meta.json: pairs with "name", "category", "snr_db"), it also prints
and writes the means per category and per SNR band (<0, 0-5, 5-10, 10-15, >=15 dB) of every folder:

    python scripts/eval/eval.py --clean data/devset_v3/clean --meta data/devset_v3/meta.json \
        --enhanced noisy=data/devset_v3/noisy --enhanced dfn4=out/dfn4_v3 --json results_v3.json
"""

import argparse
import concurrent.futures as cf
import json
import math
import os
import sys
import warnings
from fractions import Fraction

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve, resample_poly

RATE_HZ = 16000


def load_16k(path):
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if sr != RATE_HZ:
        f = Fraction(RATE_HZ, sr)
        x = resample_poly(x, f.numerator, f.denominator)
    return x


def find_delay(ref, deg, max_lag):
    """Lag (samples) by which deg trails ref, from the cross-correlation peak within +-max_lag."""
    n = min(len(ref), len(deg))
    corr = fftconvolve(deg[:n], ref[:n][::-1], mode="full")  # index n-1 is lag 0
    mid = n - 1
    lo, hi = max(0, mid - max_lag), min(len(corr), mid + max_lag + 1)
    return int(np.argmax(np.abs(corr[lo:hi]))) + lo - mid


def align(ref, deg, lag):
    if lag > 0:
        deg = deg[lag:]
    elif lag < 0:
        deg = np.concatenate([np.zeros(-lag), deg])
    n = min(len(ref), len(deg))
    return ref[:n], deg[:n]


def si_sdr(ref, est):
    ref = ref - ref.mean()
    est = est - est.mean()
    alpha = np.dot(est, ref) / (np.dot(ref, ref) + 1e-12)
    target = alpha * ref
    noise = est - target
    return 10 * math.log10((np.dot(target, target) + 1e-12) / (np.dot(noise, noise) + 1e-12))


def score_pair(clean_path, enh_path, max_lag, dnsmos):
    from pesq import pesq
    from pystoi import stoi

    ref = load_16k(clean_path)
    deg = load_16k(enh_path)
    lag = find_delay(ref, deg, max_lag)
    ref, deg = align(ref, deg, lag)
    out = dict(delay_ms=round(1000.0 * lag / RATE_HZ, 3))
    try:
        out["pesq_wb"] = float(pesq(RATE_HZ, ref, deg, "wb"))
    except Exception as e:  # pesq raises on clips it finds no speech in
        out["pesq_wb"] = float("nan")
        out["pesq_error"] = str(e)
    out["stoi"] = float(stoi(ref, deg, RATE_HZ, extended=False))
    out["estoi"] = float(stoi(ref, deg, RATE_HZ, extended=True))
    out["si_sdr_db"] = float(si_sdr(ref, deg))
    if dnsmos is not None:
        d = dnsmos(np.clip(deg, -1.0, 1.0).astype(np.float32), RATE_HZ)
        out["dnsmos_sig"] = float(d["sig_mos"])
        out["dnsmos_bak"] = float(d["bak_mos"])
        out["dnsmos_ovrl"] = float(d["ovrl_mos"])
    return out


def load_dnsmos():
    try:
        from speechmos import dnsmos
    except Exception as e:  # not installed, or onnxruntime/librosa missing
        return None, f"DNSMOS skipped: speechmos unavailable ({e})"
    return dnsmos.run, None


METRICS = [("pesq_wb", "PESQ-WB"), ("stoi", "STOI"), ("estoi", "ESTOI"), ("si_sdr_db", "SI-SDR dB"),
           ("dnsmos_sig", "DNSMOS SIG"), ("dnsmos_bak", "DNSMOS BAK"), ("dnsmos_ovrl", "DNSMOS OVRL")]
SNR_BANDS = [(-math.inf, 0, "<0"), (0, 5, "0-5"), (5, 10, "5-10"), (10, 15, "10-15"), (15, math.inf, ">=15")]


def mean_scores(scores):
    """Means of each metric (NaN PESQ left out), median delay and PESQ failure count of a list of scores."""
    means = {}
    for key, _ in METRICS:
        vals = [s[key] for s in scores if key in s and not math.isnan(s[key])]
        if vals:
            means[key] = float(np.mean(vals))
    means["delay_ms_median"] = float(np.median([s["delay_ms"] for s in scores]))
    means["pesq_failures"] = sum(1 for s in scores if math.isnan(s["pesq_wb"]))
    return means


def meta_groups(meta_path, names):
    """{"category": {cat: [names]}, "snr_band": {band: [names]}} from a dev v3 meta.json."""
    with open(meta_path) as fh:
        pairs = {p["name"]: p for p in json.load(fh)["pairs"]}
    missing = [n for n in names if n not in pairs]
    if missing:
        sys.exit(f"{meta_path}: {len(missing)} files not listed, e.g. {missing[0]}")
    by_cat, by_band = {}, {}
    for n in names:
        by_cat.setdefault(pairs[n]["category"], []).append(n)
        band = next(b for lo, hi, b in SNR_BANDS if lo <= pairs[n]["snr_db"] < hi)
        by_band.setdefault(band, []).append(n)
    bands = [b for _, _, b in SNR_BANDS if b in by_band]
    return {"category": {c: by_cat[c] for c in sorted(by_cat)}, "snr_band": {b: by_band[b] for b in bands}}


def print_table(first_cols, rows, cols):
    """Markdown table: first_cols headers, then one column per metric and the median delay."""
    print("| " + " | ".join(first_cols) + " | " + " | ".join(h for _, h in cols) + " | delay ms |")
    print("| " + " | ".join("---" for _ in first_cols) + " | " + " | ".join("---:" for _ in cols) + " | ---: |")
    for lead, m in rows:
        cells = [f"{m[k]:.3f}" if k in m else "–" for k, _ in cols]
        print("| " + " | ".join(lead) + " | " + " | ".join(cells) + f" | {m['delay_ms_median']:.1f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clean", required=True, help="folder of clean reference WAV/FLAC files")
    ap.add_argument("--enhanced", action="append", required=True, help="NAME=DIR or DIR (repeatable)")
    ap.add_argument("--json", help="write per-file and mean scores here")
    ap.add_argument("--meta", help="dev v3 meta.json: also means per category and per SNR band")
    ap.add_argument("--max-delay-ms", type=float, default=100.0)
    ap.add_argument("--no-dnsmos", action="store_true")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    names = sorted(f for f in os.listdir(args.clean) if f.lower().endswith((".wav", ".flac")))
    if not names:
        sys.exit(f"no audio files in {args.clean}")
    groups = meta_groups(args.meta, names) if args.meta else {}
    dnsmos, note = (None, "DNSMOS skipped (--no-dnsmos)") if args.no_dnsmos else load_dnsmos()
    max_lag = int(args.max_delay_ms * RATE_HZ / 1000)
    results = {}
    rows = []
    for spec in args.enhanced:
        label, d = spec.split("=", 1) if "=" in spec else (os.path.basename(os.path.normpath(spec)), spec)
        missing = [n for n in names if not os.path.exists(os.path.join(d, n))]
        if missing:
            sys.exit(f"{d}: {len(missing)} files missing, e.g. {missing[0]}")
        with cf.ThreadPoolExecutor(max_workers=args.jobs) as ex:
            scores = list(ex.map(lambda n: score_pair(os.path.join(args.clean, n), os.path.join(d, n),
                                                      max_lag, dnsmos), names))
        per_file = dict(zip(names, scores))
        means = mean_scores(scores)
        results[label] = dict(dir=d, mean=means, files=per_file)
        for kind, by in groups.items():
            results[label]["mean_by_" + kind] = {g: dict(mean_scores([per_file[n] for n in ns]), files=len(ns))
                                                 for g, ns in by.items()}
        rows.append((label, means))

    cols = [(k, h) for k, h in METRICS if any(k in m for _, m in rows)]
    print(f"\n{len(names)} files from {args.clean}; 16 kHz, delay-aligned (max {args.max_delay_ms:g} ms)\n")
    print_table(["system"], [([label], m) for label, m in rows], cols)
    for kind, by in groups.items():
        head = "SNR dB" if kind == "snr_band" else kind
        print(f"\nMeans per {head} (from {args.meta})\n")
        print_table([head, "files", "system"], [([g, str(len(ns)), label], results[label]["mean_by_" + kind][g])
                                                for g, ns in by.items() for label, _ in rows], cols)
    if note:
        print(f"\n{note}")
    for label, m in rows:
        if m["pesq_failures"]:
            print(f"{label}: PESQ failed on {m['pesq_failures']} files (left out of its mean)")
    if args.json:
        with open(args.json, "w") as fh:
            extra = dict(meta=args.meta) if args.meta else {}
            json.dump(dict(clean=args.clean, rate_hz=RATE_HZ, dnsmos_note=note, **extra, systems=results), fh,
                      indent=1)
            fh.write("\n")


if __name__ == "__main__":
    main()
