#!/usr/bin/env python3
"""Audio helpers and per-split storage settings for corpus_build.py (standard library only).

The two splits are stored differently on purpose:
- dev is frozen at corpus v1 (FLAC, v1 levels, v1 seed): scripts/corpus/make_devset.py builds the
  evaluation set from it, and scores must stay comparable across corpus versions.
- train is Ogg Vorbis (plain Vorbis I, mono, quality VORBIS_QUALITY) at the source's own
  rate, stored louder than v1 because Vorbis' psychoacoustic model treats very quiet
  input more coarsely (see data/README.md for the measurement).
"""

import concurrent.futures as cf
import os
import random
import re
import subprocess

MAX_RATE_HZ = 48000
VORBIS_QUALITY = 3

# Storage settings per split. seed feeds every random choice made for that split.
PROFILE = {
    "dev": dict(seed="dfn4-corpus-v1", ext="flac", speech_rms_db=-30.0, noise_rms_db=-36.0, peak_db=-1.0,
                chunk_s=10.0),
    # Peaks stay 3 dB under full scale: a lossy decode overshoots the input's peaks a little.
    "train": dict(seed="dfn4-corpus-v2", ext="ogg", speech_rms_db=-20.0, noise_rms_db=-26.0, peak_db=-3.0,
                  chunk_s=30.0),
}


def run(cmd, **kw):
    """Run a command, raising with its stderr on failure."""
    res = subprocess.run(cmd, capture_output=True, text=kw.pop("text", True), **kw)
    if res.returncode != 0:
        raise RuntimeError(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr}")
    return res


def rng_for(split, *key):
    """A random generator for one decision, seeded by the split's seed and a key."""
    return random.Random(PROFILE[split]["seed"] + ":" + ":".join(str(k) for k in key))


def stats(path):
    """(duration_s, rms_db, peak_db) of an audio file, via sox stats."""
    err = run(["sox", path, "-n", "stats"]).stderr
    vals = {}
    for line in err.splitlines():
        m = re.match(r"^(RMS lev dB|Pk lev dB|Length s)\s+(\S+)", line)
        if m:
            vals[m.group(1)] = float(m.group(2)) if m.group(2) not in ("-inf", "inf") else -200.0
    return vals.get("Length s", 0.0), vals.get("RMS lev dB", -200.0), vals.get("Pk lev dB", -200.0)


def rate_of(path):
    return int(float(run(["soxi", "-r", path]).stdout.strip()))


def decode(src, dst, fmt=None):
    """Decode src to a mono 32-bit float WAV at the source rate (capped at 48 kHz)."""
    if fmt == "g722":
        tmp = dst + ".g722.wav"
        run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "g722", "-i", src,
             "-ac", "1", "-c:a", "pcm_s16le", "-bitexact", tmp])
        src = tmp
    rate = rate_of(src)
    out_rate = min(rate, MAX_RATE_HZ)
    eff = ["remix", "-"] if int(run(["soxi", "-c", src]).stdout.strip()) > 1 else []
    if out_rate != rate:
        eff += ["rate", "-v", str(out_rate)]
    run(["sox", "-R", "-D", src, "-e", "floating-point", "-b", "32", dst] + eff)
    if fmt == "g722":
        os.remove(src)
    return out_rate


def write_audio(inputs, dst):
    """Concatenate float WAVs (same rate) into dst, by its extension, deterministically.

    .flac: 16-bit, level 8. .ogg: Vorbis I at VORBIS_QUALITY. Comments are emptied; sox -R
    also fixes the Ogg stream serial number, so repeated encodes are byte-identical."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if dst.endswith(".flac"):
        enc = ["-b", "16", "-C", "8"]
    elif dst.endswith(".ogg"):
        enc = ["-C", str(VORBIS_QUALITY)]
    else:
        raise ValueError(f"unknown audio format: {dst}")
    run(["sox", "-R", "-D"] + inputs + ["--comment", ""] + enc + [dst])


class Pool:
    """A small thread pool running subprocess-heavy jobs, preserving order."""

    def __init__(self, jobs):
        self.ex = cf.ThreadPoolExecutor(max_workers=jobs)

    def map(self, fn, items):
        return list(self.ex.map(lambda a: fn(*a), items))

    def submit(self, fn, *args):
        return self.ex.submit(fn, *args)
