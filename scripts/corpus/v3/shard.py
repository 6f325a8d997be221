#!/usr/bin/env python3
"""DFN4 training shards: a compact audio container that numpy (and a few lines of Rust) can read.

Why not Vorbis/Opus/FLAC: the GPU machine's package list (device KINDS.md) has numpy and torch but no
soundfile, scipy, ffmpeg or torchcodec (which torchaudio 2.11 loads files through); a format that needs only
numpy + the standard library (lzma) decodes everywhere.

Format (all little-endian), one file per shard, `*.dsh`:

    magic   8 bytes  b"DFN4SHD1"
    u32     index_len
    index   index_len bytes of UTF-8 JSON: {"version": 1, "entries": [entry, ...]}
    payload the entries' data, back to back; entry["offset"] counts from the first payload byte

    entry = {"id": manifest path, "kind", "source", "speaker", "language", "split", "category",
             "rate_hz", "bandwidth_hz", "n_samples", "snr_db", "shape", "block", "offset", "nbytes", "md5_pcm"}

An entry's data is an xz stream (Python's lzma; Rust: lzma-rs or xz2) of three arrays back to back, for
mono audio cut into blocks of `block` (256) samples, the last one shorter:

    e[n_blocks]   uint8   block k's step is 2^(-e[k]/4)
    r[n_samples]  int8    second differences of the integer samples q (q[-1] = q[-2] = 0); -128 = escape
    big[...]      int32   the escaped values, in order (as many as r holds -128)

Decoding: q = cumsum(cumsum(r with escapes filled)); z = q * step (per block); if shape != 0,
x[n] = z[n] + shape * z[n-1] (x[0] = z[0]); else x = z. float32 result; md5_pcm is the md5 of its bytes, so
a reader can check a decode bit for bit (decode() below is the reference, numpy + the standard library only).

Two modes. speech and rir entries: snr_db null, e = 60 everywhere: the samples rounded to 16-bit PCM,
stored without loss (order-2 prediction + xz). noise and music: lossy; the encoder filters the samples with
1 / (1 + shape z^-1) (shape = 0.7: the decoder's FIR puts the quantisation noise under the low frequencies,
where audio has its energy) and picks per block the step that puts the quantisation noise snr_db (30 dB) under
the block's power. data/README.md gives what each mode does to PESQ and size.

    python scripts/corpus/v3/shard.py build --manifest data/manifest.tsv --cache data/.cache \
        --out data/.cache/v3/shards [--max-mib 60] [--split train]
    python scripts/corpus/v3/shard.py check SHARD...     (decode every entry, verify md5_pcm)
"""

import argparse
import hashlib
import json
import os
import struct
import lzma

import numpy as np

MAGIC = b"DFN4SHD1"
VERSION = 1
BLOCK = 256
# quantisation noise this far under each block's power; None = 16-bit PCM without loss
SNR_DB = {"speech": None, "noise": 30.0, "music": 30.0, "rir": None}
# xz effort: 6 for the targets (5 % smaller than 1 on speech), 1 for noise and music (10x faster to write)
XZ_PRESET = {"speech": 6, "rir": 6, "noise": 1, "music": 1}
E_MAX = 80  # smallest step 2^-20 (about -120 dBFS)
SHAPE = 0.7  # noise shaping: lossy entries are stored as x / (1 + SHAPE z^-1)
E_PCM16 = 60  # step 2^-15: the 16-bit PCM grid (samples rounded to int16 first)
ESC = -128
MAX_RATE_HZ = 48000


def escape(r):
    """int64 residuals -> (int8 stream with ESC where a value does not fit, int32 stream of those values)."""
    small = (r > -128) & (r < 128)
    r8 = np.where(small, r, ESC).astype(np.int8)
    return r8, r[~small].astype(np.int32)


def encode(x, snr_db, block=BLOCK, shape=None, preset=6):
    """float samples -> (payload bytes, decoded float32 samples).

    Per block, the step is the largest 2^(-e/4) (e integer in 0..E_MAX) not above the step that puts the
    quantisation noise (step^2 / 12) snr_db under the block's mean power; the quantised integers q are stored
    as their second differences (order-2 fixed prediction, exact in integers), int8 with an escape to int32."""
    x = np.asarray(x, dtype=np.float64)
    shape = SHAPE if shape is None else shape
    if snr_db is not None and shape:
        from scipy.signal import lfilter

        x = lfilter([1.0], [1.0, shape], x)  # the decoder's FIR (1 + shape z^-1) undoes this
    n = len(x)
    nb = (n + block - 1) // block
    pad = np.zeros(nb * block)
    pad[:n] = x
    blocks = pad.reshape(nb, block)
    if snr_db is None:  # 16-bit PCM, coded without loss
        e = np.full(nb, E_PCM16, dtype=np.uint8)
    else:
        ms = np.mean(blocks * blocks, axis=1)
        target = np.sqrt(12 * ms) * 10 ** (-snr_db / 20)
        with np.errstate(divide="ignore"):
            e = np.ceil(-4 * np.log2(np.maximum(target, 1e-30)))
        e = np.clip(e, 0, E_MAX).astype(np.uint8)
    step = 2.0 ** (-e.astype(np.float64) / 4)
    if snr_db is None:
        blocks = np.clip(blocks, -1.0, 32767 / 32768)
    q = np.rint(blocks / step[:, None]).astype(np.int64).reshape(-1)[:n]
    r = np.diff(np.diff(q, prepend=0), prepend=0)
    r8, r32 = escape(r)
    payload = lzma.compress(e.tobytes() + r8.tobytes() + r32.astype("<i4").tobytes(), preset=preset)
    return payload, decode(payload, n, block, shape if snr_db is not None else 0.0)


def decode(payload, n_samples, block=BLOCK, shape=0.0):
    """payload bytes -> float32 samples (the reference decoder; numpy + lzma only)."""
    raw = lzma.decompress(payload)
    nb = (n_samples + block - 1) // block
    e = np.frombuffer(raw, dtype=np.uint8, count=nb)
    r = np.frombuffer(raw, dtype=np.int8, offset=nb, count=n_samples).astype(np.int64)
    esc = np.nonzero(r == ESC)[0]
    if len(esc):
        r[esc] = np.frombuffer(raw, dtype="<i4", offset=nb + n_samples, count=len(esc))
    q = np.cumsum(np.cumsum(r))
    step = np.repeat(2.0 ** (-e.astype(np.float64) / 4), block)[:n_samples]
    z = q * step
    if shape:
        z[1:] += shape * z[:-1].copy()
    return z.astype(np.float32)


def read_index(path):
    """(index dict, payload start offset) of a shard file."""
    with open(path, "rb") as fh:
        if fh.read(8) != MAGIC:
            raise ValueError(f"{path}: not a DFN4 shard")
        (ilen,) = struct.unpack("<I", fh.read(4))
        index = json.loads(fh.read(ilen).decode("utf-8"))
    return index, 12 + ilen


def read_entry(path, entry, base):
    with open(path, "rb") as fh:
        fh.seek(base + entry["offset"])
        payload = fh.read(entry["nbytes"])
    return decode(payload, entry["n_samples"], entry["block"], entry.get("shape", 0.0))


def iter_shard(path):
    """Yield (entry, float32 samples) for every entry of a shard."""
    index, base = read_index(path)
    with open(path, "rb") as fh:
        for e in index["entries"]:
            fh.seek(base + e["offset"])
            yield e, decode(fh.read(e["nbytes"]), e["n_samples"], e["block"], e.get("shape", 0.0))


def write_shard(path, entries, payloads):
    off = 0
    for e, p in zip(entries, payloads):
        e["offset"], e["nbytes"] = off, len(p)
        off += len(p)
    index = json.dumps({"version": VERSION, "entries": entries}, separators=(",", ":"), sort_keys=True).encode()
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(MAGIC + struct.pack("<I", len(index)) + index)
        for p in payloads:
            fh.write(p)
    os.replace(tmp, path)


def load_mono(path):
    import soundfile as sf
    from fractions import Fraction

    x, sr = sf.read(path, dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if sr > MAX_RATE_HZ:
        from scipy.signal import resample_poly

        fr = Fraction(MAX_RATE_HZ, sr)
        x = resample_poly(x, fr.numerator, fr.denominator)
        sr = MAX_RATE_HZ
    return x, sr


def resolve(row_path, cache, v2):
    return os.path.join(v2, row_path[3:]) if row_path.startswith("v2/") else os.path.join(cache, row_path)


def build(a):
    import csv

    with open(a.manifest, newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if (a.split == "all" or r["split"] == a.split)
                and r["kind"] in a.kinds.split(",")]
    if a.music_hours is not None:  # a fixed share of the music: files in md5-hash order up to the hours
        music = sorted((r for r in rows if r["kind"] == "music"),
                       key=lambda r: hashlib.sha256(r["md5"].encode()).hexdigest())
        keep, tot = set(), 0.0
        for r in music:
            if tot >= a.music_hours * 3600:
                break
            keep.add(r["path"])
            tot += float(r["seconds"])
        rows = [r for r in rows if r["kind"] != "music" or r["path"] in keep]
    rows.sort(key=lambda r: (r["kind"], r["path"]))
    os.makedirs(a.out, exist_ok=True)
    limit = int(a.max_mib * 1024 * 1024)
    shards, entries, payloads, size = [], [], [], 0
    kind_of_shard = None

    def flush():
        nonlocal entries, payloads, size
        if entries:
            name = f"{a.split}-{kind_of_shard}-{len([s for s in shards if s[1] == kind_of_shard]):04d}.dsh"
            write_shard(os.path.join(a.out, name), entries, payloads)
            shards.append((name, kind_of_shard, len(entries), size))
            print(f"{name}: {len(entries)} entries, {size / 2**20:.1f} MiB", flush=True)
        entries, payloads, size = [], [], 0

    for r in rows:
        if kind_of_shard is not None and r["kind"] != kind_of_shard:
            flush()
        kind_of_shard = r["kind"]
        x, sr = load_mono(resolve(r["path"], a.cache, a.v2))
        snr = SNR_DB[r["kind"]]
        p, y = encode(x, snr, preset=XZ_PRESET[r["kind"]])
        if size + len(p) > limit:
            flush()
        e = {k: r[k] for k in ("kind", "source", "speaker", "language", "split", "category")}
        e.update(id=r["path"], rate_hz=int(sr), bandwidth_hz=int(float(r["bandwidth_hz"] or 0)),
                 n_samples=len(x), snr_db=snr, shape=0.0 if snr is None else SHAPE, block=BLOCK,
                 md5_pcm=hashlib.md5(y.tobytes()).hexdigest())
        entries.append(e)
        payloads.append(p)
        size += len(p)
    flush()
    with open(os.path.join(a.out, f"{a.split}-{a.kinds.replace(',', '-')}-shards.tsv"), "w") as fh:
        fh.write("name\tkind\tentries\tbytes\tmd5\n")
        for name, kind, n, _ in shards:
            path = os.path.join(a.out, name)
            md5 = hashlib.md5(open(path, "rb").read()).hexdigest()
            fh.write(f"{name}\t{kind}\t{n}\t{os.path.getsize(path)}\t{md5}\n")


def check(a):
    bad = 0
    for path in a.shards:
        n = 0
        for e, y in iter_shard(path):
            n += 1
            if hashlib.md5(y.tobytes()).hexdigest() != e["md5_pcm"]:
                bad += 1
                print(f"{path}: {e['id']}: md5 mismatch")
        print(f"{path}: {n} entries checked")
    raise SystemExit(1 if bad else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--manifest", default="data/manifest.tsv")
    b.add_argument("--cache", default="data/.cache")
    b.add_argument("--v2", default="data/corpus")
    b.add_argument("--out", default="data/.cache/v3/shards")
    b.add_argument("--split", default="train", choices=["train", "dev", "all"])
    b.add_argument("--max-mib", type=float, default=60.0)
    b.add_argument("--music-hours", type=float, default=6.0,
                   help="music in the shards (the manifest has more; the upload cost grows with it)")
    b.add_argument("--kinds", default="music,noise,rir,speech")
    c = sub.add_parser("check")
    c.add_argument("shards", nargs="+")
    a = ap.parse_args()
    build(a) if a.cmd == "build" else check(a)


if __name__ == "__main__":
    main()
