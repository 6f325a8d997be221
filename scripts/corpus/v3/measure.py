#!/usr/bin/env python3
"""Per-file measurements for corpus v3: length, rate, levels, clipping, bandwidth, background.

Every measurement is a pure function of the decoded samples, so the same package versions give the
same numbers (numpy float64, fixed frame grid, no randomness). Used by scripts/corpus/v3/inventory.py;
the methods are documented in data/README.md ("Bandwidth" and "Quality filters").

    measure(path) -> dict (see FIELDS)
"""

import hashlib
import math
import subprocess

import numpy as np
import soundfile as sf

FIELDS = [
    "md5", "rate_hz", "channels", "seconds", "active_s", "peak_db", "clip_frac", "level_p95_db",
    "floor_p10_db", "range_db", "floor_flatness", "spread_db", "bandwidth_hz", "rolloff995_hz",
]
BW_DROP_DB = 55.0  # bandwidth: highest frequency whose long-term level is within this of the peak
BW_SMOOTH_HZ = 500.0  # long-term spectrum averaged over bands this wide before the threshold
EXCERPT_OVER_S = 120.0  # files longer than this (music, long ambience) are measured on excerpts:
EXCERPT_PIECES = 3  # this many pieces
EXCERPT_S = 30.0  # of this length, evenly spaced (active_s is then scaled to the whole file)
MAX_BW_FRAMES = 3000  # long files: long-term spectrum from at most this many evenly spaced frames


def md5_of(path):
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load(path):
    """(samples float64 [n, ch], rate). soundfile first (Vorbis, Opus, FLAC, WAV, MP3), ffmpeg otherwise."""
    try:
        x, sr = sf.read(path, dtype="float64", always_2d=True)
        return x, sr
    except Exception:
        pass
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                            "stream=sample_rate,channels", "-of", "csv=p=0", path],
                           capture_output=True, text=True, check=True).stdout.strip().split(",")
    sr, ch = int(probe[0]), int(probe[1])
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "f32le", "-acodec", "pcm_f32le",
                          "-"], capture_output=True, check=True).stdout
    x = np.frombuffer(raw, dtype="<f4").astype(np.float64).reshape(-1, ch)
    return x, sr


def frame_db(x, n, hop):
    """RMS level in dBFS of frames of n samples every hop (silence clamped at -120 dB)."""
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    idx = np.arange(0, len(x) - n + 1, hop)
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    e = (c[idx + n] - c[idx]) / n
    return 10 * np.log10(np.maximum(e, 1e-12))


def bandwidth(x, sr, active_db):
    """(bandwidth_hz, rolloff995_hz) from the long-term spectrum of the active frames.

    bandwidth_hz: the upper edge of the highest 500 Hz band whose mean power is within BW_DROP_DB of
    the loudest band above 500 Hz (the 0-500 Hz band, where hum and rumble live, is not the reference).
    rolloff995_hz: the frequency below which 99.5 % of the power above 50 Hz lies."""
    n = 2048 if sr > 24000 else 1024
    hop = n
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    starts = np.arange(0, len(x) - n + 1, hop)
    lv = frame_db(x, n, hop)[: len(starts)]
    keep = starts[lv >= active_db]
    if len(keep) == 0:
        keep = starts
    if len(keep) > MAX_BW_FRAMES:
        keep = keep[np.linspace(0, len(keep) - 1, MAX_BW_FRAMES).round().astype(int)]
    win = np.hanning(n)
    spec = np.zeros(n // 2 + 1)
    for k in range(0, len(keep), 256):
        fr = np.stack([x[s:s + n] for s in keep[k:k + 256]]) * win
        spec += (np.abs(np.fft.rfft(fr, axis=1)) ** 2).sum(axis=0)
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    band = np.floor(freqs / BW_SMOOTH_HZ).astype(int)
    nb = band.max() + 1
    bp = np.bincount(band, weights=spec, minlength=nb) / np.maximum(np.bincount(band, minlength=nb), 1)
    bdb = 10 * np.log10(np.maximum(bp, 1e-30))
    ref = bdb[1:].max() if nb > 1 else bdb.max()
    ok = np.nonzero(bdb[1:] >= ref - BW_DROP_DB)[0]
    bw = min((ok[-1] + 2) * BW_SMOOTH_HZ, sr / 2) if len(ok) else 0.0
    sel = freqs >= 50
    cum = np.cumsum(spec[sel])
    ro = float(freqs[sel][np.searchsorted(cum, 0.995 * cum[-1])]) if cum[-1] > 0 else 0.0
    return float(bw), ro


def flatness(x, sr, starts, n):
    """Mean spectral flatness (0 = tonal, 1 = white) over 125 Hz-8 kHz of the frames at starts."""
    if len(starts) == 0:
        return float("nan")
    win = np.hanning(n)
    fr = np.stack([x[s:s + n] for s in starts]) * win
    p = np.abs(np.fft.rfft(fr, axis=1)) ** 2 + 1e-20
    f = np.fft.rfftfreq(n, 1.0 / sr)
    p = p[:, (f >= 125) & (f <= min(8000, sr / 2))]
    return float(np.mean(np.exp(np.mean(np.log(p), axis=1)) / np.mean(p, axis=1)))


def load_excerpts(path):
    """Long files (over EXCERPT_OVER_S): EXCERPT_PIECES pieces of EXCERPT_S, evenly spaced, joined."""
    try:
        info = sf.info(path)
    except Exception:
        return load(path) + (None,)
    if info.duration <= EXCERPT_OVER_S:
        x, sr = load(path)
        return x, sr, None
    n = int(EXCERPT_S * info.samplerate)
    starts = np.linspace(0, info.frames - n, EXCERPT_PIECES).round().astype(int)
    with sf.SoundFile(path) as fh:
        parts = []
        for s in starts:
            fh.seek(int(s))
            parts.append(fh.read(n, dtype="float64", always_2d=True))
    return np.concatenate(parts), info.samplerate, info.frames / info.samplerate


def measure(path):
    x2, sr, full_s = load_excerpts(path)
    x = x2.mean(axis=1) if x2.shape[1] > 1 else x2[:, 0]
    seconds = full_s if full_s is not None else len(x) / sr
    out = dict(md5=md5_of(path), rate_hz=int(sr), channels=int(x2.shape[1]), seconds=round(seconds, 3))
    if len(x) == 0:
        return dict(out, active_s=0.0, peak_db=-120.0, clip_frac=0.0, level_p95_db=-120.0, floor_p10_db=-120.0,
                    range_db=0.0, floor_flatness=float("nan"), spread_db=0.0, bandwidth_hz=0.0, rolloff995_hz=0.0)
    peak = float(np.max(np.abs(x2)))
    out["peak_db"] = round(20 * math.log10(max(peak, 1e-6)), 2)
    # clipping: share of samples (any channel) at or above 99 % of full scale
    out["clip_frac"] = float(np.mean(np.abs(x2) >= 0.99))
    n20, h10 = int(0.02 * sr), int(0.01 * sr)
    lv = frame_db(x, n20, h10)
    p95, p10 = float(np.percentile(lv, 95)), float(np.percentile(lv, 10))
    active_db = max(p95 - 40.0, -70.0)
    out["active_s"] = round(float(np.mean(lv >= active_db)) * seconds, 3)
    out["level_p95_db"], out["floor_p10_db"] = round(p95, 2), round(p10, 2)
    out["range_db"] = round(p95 - p10, 2)
    # background character: flatness of the quietest 20 % of the (non-silent) 20 ms frames
    starts = np.arange(0, max(len(x) - n20, 0) + 1, h10)[: len(lv)]
    nz = np.nonzero(lv > -100)[0]
    if len(nz) >= 10 and len(x) >= n20:
        q = nz[lv[nz] <= np.percentile(lv[nz], 20)]
        out["floor_flatness"] = round(flatness(x, sr, starts[q][:400], n20), 4)
    else:
        out["floor_flatness"] = float("nan")
    # stationarity: 10-90 % spread of 100 ms levels over the frames within 50 dB of the loudest
    l100 = frame_db(x, int(0.1 * sr), int(0.1 * sr))
    l100 = l100[l100 >= l100.max() - 50]
    out["spread_db"] = round(float(np.percentile(l100, 90) - np.percentile(l100, 10)), 2)
    bw, ro = bandwidth(x, sr, active_db)
    out["bandwidth_hz"], out["rolloff995_hz"] = round(bw), round(ro)
    return out


if __name__ == "__main__":
    import json
    import sys

    for p in sys.argv[1:]:
        print(json.dumps(dict(path=p, **measure(p))))
