"""Minimal float32 WAV reading and writing for the tests (the standard `wave` module has PCM only)."""

import struct

import numpy as np


def write_f32(path, audio, rate):
    """Writes `audio` ([samples] or [channels, samples]) as a 32-bit float WAV."""
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    channels = audio.shape[0]
    data = audio.T.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, channels, rate, rate * channels * 4, channels * 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def read_f32(path):
    """Reads a 32-bit float WAV (plain or extensible); returns ([channels, samples], rate)."""
    raw = open(path, "rb").read()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE", path
    pos, channels, rate, data = 12, None, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], struct.unpack("<I", raw[pos + 4 : pos + 8])[0]
        chunk = raw[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", chunk[:16])
            if tag == 0xFFFE:
                tag = struct.unpack("<H", chunk[24:26])[0]
            assert tag == 3 and bits == 32, f"{path}: not float32 (tag {tag}, {bits} bits)"
        elif cid == b"data":
            data = np.frombuffer(chunk, dtype="<f4")
        pos += 8 + size + (size & 1)
    return data.reshape(-1, channels).T.copy(), rate


def noisy_speech(seconds, rate, seed=0):
    """A speech-like test signal: harmonic bursts with a moving pitch, in white and hum noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = (np.sin(2 * np.pi * 1.5 * t) > 0.2).astype(float)
    noise = 0.05 * rng.standard_normal(len(t)) + 0.02 * np.sin(2 * np.pi * 50 * t)
    return (0.1 * voice * envelope + noise).astype(np.float32)
