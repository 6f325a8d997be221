#!/usr/bin/env python3
"""Clean speech in, how much comes out changed: a set's clean files enhanced, compared with themselves.

    dfn4 enhance -y --backend native-f16 data/devset_v3/clean /tmp/pass_dev
    python scripts/eval/clean_passthrough.py --clean data/devset_v3/clean --enhanced /tmp/pass_dev

Per file, over 20 ms frames: the active frames are those within 40 dB of the file's loudest. Reported (median
over the files, one JSON line): the residual (enhanced - clean) energy over the clean energy in the active
frames (dB; lower = more transparent), the level change there (enhanced over clean, dB), how far the other
frames (pauses) lie under the active ones (dB), and the residual per band (its energy in the band over the
clean file's total, dB). Files are compared sample for sample (dfn4's output is delay-compensated).
Used for the train/dev gap in docs/quality.md: a model that passes the voices it trained on much more
cleanly than new ones has learnt its voices, not speech.
"""

import argparse
import json
import os
import sys

import numpy as np
import soundfile as sf
from scipy.signal import stft

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transparency import db, frame_power  # noqa: E402

FRAME_S = 0.020
ACTIVE_DB = 40.0
BANDS_HZ = [(0, 60), (60, 300), (300, 1000), (1000, 4000), (4000, 8000), (8000, 24000)]


def one_file(clean, enhanced, rate_hz):
    n = min(len(clean), len(enhanced))
    c, e = clean[:n], enhanced[:n]
    d = e - c
    hop = int(FRAME_S * rate_hz)
    # A floor under every frame's power, so that a pause of digital silence still has a level.
    pc, pd, pe = (frame_power(x, hop) + 1e-12 for x in (c, d, e))
    active = pc > pc.max() * 10 ** (-ACTIVE_DB / 10)
    out = {
        "residual_db": float(db(pd[active].sum() / pc[active].sum())),
        "level_change_db": float(db(pe[active].sum() / pc[active].sum())),
        "pauses_under_active_db": float(db(pc[~active].mean() / pc[active].mean())) if (~active).any() else None,
    }
    f_hz, _, spec_c = stft(c, rate_hz, nperseg=2048)
    _, _, spec_d = stft(d, rate_hz, nperseg=2048)
    total = np.sum(np.abs(spec_c) ** 2)
    for lo, hi in BANDS_HZ:
        band = (f_hz >= lo) & (f_hz < hi)
        out[f"residual_{lo}_{hi}_hz_db"] = float(db(np.sum(np.abs(spec_d[band]) ** 2) / total))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clean", required=True, help="folder of clean files")
    ap.add_argument("--enhanced", required=True, help="folder of the same names, enhanced")
    a = ap.parse_args()
    rows = []
    for name in sorted(os.listdir(a.clean)):
        clean, rate_hz = sf.read(os.path.join(a.clean, name), always_2d=True)
        enhanced, rate2_hz = sf.read(os.path.join(a.enhanced, name), always_2d=True)
        if rate_hz != rate2_hz:
            raise SystemExit(f"{name}: {rate_hz} Hz clean, {rate2_hz} Hz enhanced")
        rows.append(one_file(clean.mean(axis=1), enhanced.mean(axis=1), rate_hz))
    summary = {"files": len(rows)}
    for key in rows[0]:
        values = [r[key] for r in rows if r[key] is not None]
        summary[key] = round(float(np.median(values)), 2) if values else None
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
