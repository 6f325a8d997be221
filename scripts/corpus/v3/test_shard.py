#!/usr/bin/env python3
"""Tests of the DFN4 shard format (shard.py): codec round trips, the container, the reader's checks.

    python -m unittest scripts/corpus/v3/test_shard.py      (numpy + scipy; no audio files needed)
"""

import hashlib
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shard  # noqa: E402


def speechlike(n, sr=44100, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    env = 0.5 * (1 + np.sin(2 * np.pi * 3 * t)) ** 2
    x = env * (0.3 * np.sin(2 * np.pi * 140 * t) + 0.1 * np.sin(2 * np.pi * 2100 * t))
    x += 1e-3 * rng.standard_normal(n)
    x[n // 3: n // 3 + 2000] = 0.0  # digital silence
    return x


class CodecTest(unittest.TestCase):
    def test_lossless_is_int16_exact(self):
        x = speechlike(44100 + 17)
        payload, y = shard.encode(x, None)
        want = np.rint(np.clip(x, -1, 32767 / 32768) * 32768) / 32768
        np.testing.assert_array_equal(y, want.astype(np.float32))
        np.testing.assert_array_equal(shard.decode(payload, len(x)), y)
        self.assertLess(len(payload), 2 * len(x))  # smaller than 16-bit PCM

    def test_lossy_snr_per_block(self):
        x = speechlike(3 * 44100, seed=1)
        for snr in (30.0, 40.0):
            payload, y = shard.encode(x, snr, shape=0.0)
            err = y.astype(np.float64) - x
            blocks = (len(x) // shard.BLOCK) * shard.BLOCK
            px = np.mean(x[:blocks].reshape(-1, shard.BLOCK) ** 2, axis=1)
            pe = np.mean(err[:blocks].reshape(-1, shard.BLOCK) ** 2, axis=1)
            loud = px > 1e-6
            got = 10 * np.log10(px[loud] / np.maximum(pe[loud], 1e-30))
            self.assertGreater(np.median(got), snr - 1.5)
            np.testing.assert_array_equal(shard.decode(payload, len(x), shape=0.0), y)

    def test_shaped_decode_matches_encoder(self):
        x = speechlike(20000, seed=2)
        payload, y = shard.encode(x, 35.0, shape=0.7)
        np.testing.assert_array_equal(shard.decode(payload, len(x), shape=0.7), y)
        self.assertGreater(10 * np.log10(np.mean(x * x) / np.mean((y - x) ** 2)), 25.0)

    def test_escapes_for_large_residuals(self):
        rng = np.random.default_rng(3)
        x = rng.uniform(-1, 1, 5000)  # white full-scale noise: residuals overflow int8 often
        payload, y = shard.encode(x, None)
        self.assertLess(np.max(np.abs(y - x)), 1.0 / 32768 + 1e-9)

    def test_empty_and_tiny(self):
        for n in (0, 1, 255, 256, 257):
            x = speechlike(n) if n else np.zeros(0)
            payload, y = shard.encode(x, 30.0)
            self.assertEqual(len(shard.decode(payload, n, shape=shard.SHAPE)), n)


class ContainerTest(unittest.TestCase):
    def test_write_read_check(self):
        xs = [speechlike(1000 + 300 * k, seed=k) for k in range(4)]
        entries, payloads = [], []
        for k, x in enumerate(xs):
            snr = None if k % 2 == 0 else 30.0
            p, y = shard.encode(x, snr)
            entries.append(dict(id=f"clip{k}", kind="speech" if snr is None else "noise", rate_hz=44100,
                                n_samples=len(x), snr_db=snr, shape=0.0 if snr is None else shard.SHAPE,
                                block=shard.BLOCK, md5_pcm=hashlib.md5(y.tobytes()).hexdigest()))
            payloads.append(p)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.dsh")
            shard.write_shard(path, entries, payloads)
            index, base = shard.read_index(path)
            self.assertEqual(index["version"], shard.VERSION)
            got = list(shard.iter_shard(path))
            self.assertEqual([e["id"] for e, _ in got], [f"clip{k}" for k in range(4)])
            for e, y in got:
                self.assertEqual(hashlib.md5(y.tobytes()).hexdigest(), e["md5_pcm"])
            e2 = index["entries"][2]
            np.testing.assert_array_equal(shard.read_entry(path, e2, base), got[2][1])
            with open(path, "r+b") as fh:  # corrupt one payload byte: xz or the md5 must notice
                fh.seek(base + e2["offset"] + e2["nbytes"] // 2)
                b = fh.read(1)
                fh.seek(-1, 1)
                fh.write(bytes([b[0] ^ 0xFF]))
            bad = 0
            try:
                for e, y in shard.iter_shard(path):
                    bad += hashlib.md5(y.tobytes()).hexdigest() != e["md5_pcm"]
            except Exception:
                bad += 1
            self.assertGreater(bad, 0)

    def test_not_a_shard(self):
        with tempfile.NamedTemporaryFile(suffix=".dsh") as fh:
            fh.write(b"RIFF....")
            fh.flush()
            with self.assertRaises(ValueError):
                shard.read_index(fh.name)


if __name__ == "__main__":
    unittest.main()
