#!/usr/bin/env python3
"""Transparency of a denoiser: are speech onsets kept, and does clean speech pass through unchanged?

    python scripts/eval/transparency.py --devset data/devset_v3 --enhanced out/dfn4_v3 \\
        --clean-file assets/clean_speech.wav --enhanced-file out/clean_enh.wav

Prints one JSON line. Either part may be given alone. Nothing is enhanced here: run the denoiser first.

(a) Onsets (--devset DIR with clean/ and meta.json, --enhanced DIR with the same file names). In each
    clean target, 5 ms frame levels (dB of the mean square); the active-speech level is the power mean of
    the frames within 40 dB of the file's 95th-percentile frame and above -70 dBFS. An onset is the first
    frame above (active level - 40 dB) after >= 300 ms of frames at or below it. For each onset: the
    level of the enhanced minus that of the clean signal (dB) over the 20 ms from the onset frame's start.
    Negative = the start of the word is attenuated. Reported: count, median, p10, worst (lowest), count
    and median per category, the median level of the clean 20 ms windows relative to their file's active
    level (how quiet the onsets are), and as a reference the median over files of the same enhanced -
    clean difference over all active frames (the overall gain on speech).
(b) Clean passthrough (--clean-file, --enhanced-file): residual = 10 log10(sum (enh - clean)^2 / sum
    clean^2) in dB, and the speech level change: enhanced minus clean level over the clean's active frames.

Signals are compared at their own rate (both must share it), mono, after the delay alignment eval.py
uses (cross-correlation peak within +-100 ms, eval.find_delay / eval.align).
"""

import argparse
import json
import os
import sys

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval import align, find_delay  # noqa: E402

FRAME_S = 0.005
PAUSE_S = 0.300
WINDOW_S = 0.020
BELOW_ACTIVE_DB = 40.0
MAX_DELAY_S = 0.100


def load_pair(clean_path, enh_path):
    """Mono clean and enhanced signals at the clean's rate, delay-aligned and cut to the same length."""
    ref, sr = sf.read(clean_path, dtype="float64", always_2d=True)
    deg, sr2 = sf.read(enh_path, dtype="float64", always_2d=True)
    if sr != sr2:
        sys.exit(f"{enh_path}: {sr2} Hz, {clean_path}: {sr} Hz")
    ref, deg = ref.mean(axis=1), deg.mean(axis=1)
    lag = find_delay(ref, deg, int(MAX_DELAY_S * sr))
    ref, deg = align(ref, deg, lag)
    return ref, deg, sr, lag


def frame_power(x, hop):
    n = len(x) // hop
    return np.mean(x[:n * hop].reshape(n, hop) ** 2, axis=1)


def db(p):
    return 10 * np.log10(np.maximum(p, 1e-20))


def active_mask(levels_db):
    """Frames within 40 dB of the 95th-percentile frame and above -70 dBFS."""
    return (levels_db >= np.percentile(levels_db, 95) - 40.0) & (levels_db > -70.0)


def onsets(levels_db):
    """Indices of frames above (active level - 40 dB) preceded by >= PAUSE_S of frames at or below it."""
    act = active_mask(levels_db)
    active_db = db(np.mean(10 ** (levels_db[act] / 10)))
    above = levels_db > active_db - BELOW_ACTIVE_DB
    need = int(round(PAUSE_S / FRAME_S))
    out, quiet = [], 0
    for i, a in enumerate(above):
        if a and quiet >= need:
            out.append(i)
        quiet = 0 if a else quiet + 1
    return out


def onset_part(devset, enh_dir):
    with open(os.path.join(devset, "meta.json")) as fh:
        pairs = json.load(fh)["pairs"]
    diffs, cats, rel, overall = [], [], [], []
    for p in pairs:
        ref, deg, sr, _ = load_pair(os.path.join(devset, "clean", p["name"]), os.path.join(enh_dir, p["name"]))
        hop, win = int(round(FRAME_S * sr)), int(round(WINDOW_S * sr))
        pc, pe = frame_power(ref, hop), frame_power(deg, hop)
        act = active_mask(db(pc))
        active_db = db(np.mean(pc[act]))
        overall.append(float(db(pe[act].sum()) - db(pc[act].sum())))
        for i in onsets(db(pc)):
            a = i * hop
            if a + win > len(ref):
                continue
            diffs.append(float(db(np.sum(deg[a:a + win] ** 2)) - db(np.sum(ref[a:a + win] ** 2))))
            rel.append(float(db(np.mean(ref[a:a + win] ** 2)) - active_db))
            cats.append(p["category"])
    d = np.array(diffs)
    by_cat = {c: round(float(np.median(d[np.array(cats) == c])), 2) for c in sorted(set(cats))}
    return dict(files=len(pairs), onsets=len(d), onset_db_median=round(float(np.median(d)), 2),
                onset_db_p10=round(float(np.percentile(d, 10)), 2), onset_db_worst=round(float(d.min()), 2),
                onsets_by_category={c: cats.count(c) for c in by_cat}, onset_db_median_by_category=by_cat,
                onset_clean_rel_active_db_median=round(float(np.median(rel)), 2),
                active_speech_db_median=round(float(np.median(overall)), 2))


def passthrough_part(clean_file, enh_file):
    ref, deg, sr, lag = load_pair(clean_file, enh_file)
    residual = float(db(np.sum((deg - ref) ** 2)) - db(np.sum(ref ** 2)))
    hop = int(round(FRAME_S * sr))
    pc, pe = frame_power(ref, hop), frame_power(deg, hop)
    act = active_mask(db(pc))
    return dict(delay_samples=lag, residual_db=round(residual, 2),
                speech_level_change_db=round(float(db(pe[act].sum()) - db(pc[act].sum())), 2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devset", help="dev v3 folder (clean/, meta.json)")
    ap.add_argument("--enhanced", help="enhanced files of --devset's noisy/")
    ap.add_argument("--clean-file")
    ap.add_argument("--enhanced-file", help="--clean-file after the denoiser")
    a = ap.parse_args()
    out = {}
    if a.devset or a.enhanced:
        if not (a.devset and a.enhanced):
            ap.error("--devset and --enhanced go together")
        out["onsets"] = dict(enhanced=a.enhanced, **onset_part(a.devset, a.enhanced))
    if a.clean_file or a.enhanced_file:
        if not (a.clean_file and a.enhanced_file):
            ap.error("--clean-file and --enhanced-file go together")
        out["passthrough"] = dict(file=a.enhanced_file, **passthrough_part(a.clean_file, a.enhanced_file))
    if not out:
        ap.error("nothing to measure")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
