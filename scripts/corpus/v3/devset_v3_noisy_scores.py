#!/usr/bin/env python3
"""PESQ-WB (16 kHz) of the unprocessed noisy files of dev set v3 against their clean targets, per category.

    python scripts/corpus/v3/devset_v3_noisy_scores.py [data/devset_v3]
"""

import json
import os
import sys
from collections import defaultdict

import numpy as np
import soundfile as sf
from pesq import pesq
from scipy.signal import resample_poly

d = sys.argv[1] if len(sys.argv) > 1 else "data/devset_v3"
meta = json.load(open(os.path.join(d, "meta.json")))
by = defaultdict(list)
for p in meta["pairs"]:
    c, _ = sf.read(os.path.join(d, "clean", p["name"]))
    n, _ = sf.read(os.path.join(d, "noisy", p["name"]))
    by[p["category"]].append(pesq(16000, resample_poly(c, 1, 3), resample_poly(n, 1, 3), "wb"))
allv = [v for vs in by.values() for v in vs]
for k in sorted(by):
    print(f"{k}\t{len(by[k])}\t{np.mean(by[k]):.3f}")
print(f"all\t{len(allv)}\t{np.mean(allv):.3f}")
