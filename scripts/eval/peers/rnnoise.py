#!/usr/bin/env python3
"""Peer: RNNoise (Xiph's C library as shipped in PyPI `pyrnnoise`), 48 kHz, 480-sample frames.

    python scripts/eval/peers/rnnoise.py IN_DIR OUT_DIR

RNNoise works on 16-bit-scaled floats and its output trails the input by two frames (960 samples,
20 ms: measured by cross-correlation on clean speech): that delay is removed here so the output is
aligned with the input."""

import ctypes

import numpy as np
from pyrnnoise.rnnoise import FRAME_SIZE, create, destroy, lib

from common import run


def make():
    def denoise(x):
        state = create()
        n = len(x)
        delay = 2 * FRAME_SIZE
        frames = -(-(n + delay) // FRAME_SIZE)
        buf = np.zeros(frames * FRAME_SIZE, dtype=np.float32)
        buf[:n] = x * 32768.0
        out = np.empty_like(buf)
        for i in range(frames):
            frame = np.ascontiguousarray(buf[i * FRAME_SIZE:(i + 1) * FRAME_SIZE])
            ptr = frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            lib.rnnoise_process_frame(state, ptr, ptr)
            out[i * FRAME_SIZE:(i + 1) * FRAME_SIZE] = frame
        destroy(state)
        return out[delay:delay + n] / 32768.0

    assert FRAME_SIZE == 480
    return denoise


if __name__ == "__main__":
    run(__doc__.splitlines()[0], make)
