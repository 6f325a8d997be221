#!/usr/bin/env python3
"""DFN4 training shards: a compact audio container that numpy (and a few lines of Rust) can read.

Why not Vorbis/Opus/FLAC: the GPU machine has numpy and torch but no soundfile, scipy or ffmpeg, and its
torchaudio no longer decodes files itself; a format that needs only numpy + zlib decodes everywhere.

Format (all little-endian), one file per shard, `*.dsh`:

    magic   8 bytes  b"DFN4SHD1"
    u32     index_len
    index   index_len bytes of UTF-8 JSON: {"version": 1, "entries": [entry, ...]}
    payload the entries' data, back to back; entry["offset"] counts from the first payload byte

    entry = {"id": manifest path, "kind", "source", "speaker", "language", "split", "category",
             "rate_hz", "bandwidth_hz", "n_samples", "bits", "block", "offset", "nbytes", "md5_pcm"}

An entry's data is zlib(level 9) of  exps[n_blocks] (uint8)  ||  mants[n_samples] (int8), mono audio cut into
blocks of `block` samples (the last one shorter). Block k's samples are  mants * 2^(-exps[k] / 4)  (exps 255: a
silent block, all zeros). The encoder picks, per block, the smallest step 2^(-e/4) (e integer, 1.5 dB apart)
with |x| / step <= 2^(bits-1) - 1 and rounds to the nearest step: block floating point with `bits`-bit
mantissas (8 for speech targets, 6 for noise, music and room responses; see data/README.md for what that does
to PESQ). md5_pcm is the md5 of the decoded float32 samples, so a reader can check a decode bit for bit.

    python scripts/corpus_v3/shard.py build --manifest data/manifest.tsv --cache data/.cache \
        --out data/.cache/v3/shards [--max-mib 60] [--split train]
    python scripts/corpus_v3/shard.py check SHARD...     (decode every entry, verify md5_pcm)
"""

import argparse
import hashlib
import json
import os
import struct
import zlib

import numpy as np

MAGIC = b"DFN4SHD1"
BLOCK = 256
BITS = {"speech": 8, "noise": 6, "music": 6, "rir": 8}
MAX_RATE_HZ = 48000


def encode(x, bits, block=BLOCK):
    """float samples in [-1, 1] -> (payload bytes, decoded float32 samples)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    nb = (n + block - 1) // block
    pad = np.zeros(nb * block)
    pad[:n] = x
    blocks = pad.reshape(nb, block)
    peak = np.abs(blocks).max(axis=1)
    qmax = 2 ** (bits - 1) - 1
    with np.errstate(divide="ignore"):
        e = np.floor(4 * np.log2(qmax / np.maximum(peak, 1e-30)))
    e = np.clip(e, 0, 254)
    e[peak < 2 ** (-254 / 4) * 0.5] = 255
    step = np.where(e == 255, 0.0, 2.0 ** (-e / 4))
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(step[:, None] > 0, np.rint(blocks / np.where(step > 0, step, 1.0)[:, None]), 0)
    m = np.clip(m, -qmax, qmax).astype(np.int8).reshape(-1)[:n]
    exps = e.astype(np.uint8)
    payload = zlib.compress(exps.tobytes() + m.tobytes(), 9)
    return payload, decode(payload, n, block)


def decode(payload, n_samples, block=BLOCK):
    """payload bytes -> float32 samples (the reference decoder; numpy + zlib only)."""
    raw = zlib.decompress(payload)
    nb = (n_samples + block - 1) // block
    exps = np.frombuffer(raw, dtype=np.uint8, count=nb)
    mants = np.frombuffer(raw, dtype=np.int8, offset=nb, count=n_samples).astype(np.float32)
    step = np.where(exps == 255, 0.0, 2.0 ** (-exps.astype(np.float64) / 4)).astype(np.float32)
    return mants * np.repeat(step, block)[:n_samples]


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
    return decode(payload, entry["n_samples"], entry["block"])


def iter_shard(path):
    """Yield (entry, float32 samples) for every entry of a shard."""
    index, base = read_index(path)
    with open(path, "rb") as fh:
        for e in index["entries"]:
            fh.seek(base + e["offset"])
            yield e, decode(fh.read(e["nbytes"]), e["n_samples"], e["block"])


def write_shard(path, entries, payloads):
    off = 0
    for e, p in zip(entries, payloads):
        e["offset"], e["nbytes"] = off, len(p)
        off += len(p)
    index = json.dumps({"version": 1, "entries": entries}, separators=(",", ":"), sort_keys=True).encode()
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
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if (a.split == "all" or r["split"] == a.split)]
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
        bits = BITS[r["kind"]]
        p, y = encode(x, bits)
        if size + len(p) > limit:
            flush()
        e = {k: r[k] for k in ("kind", "source", "speaker", "language", "split", "category")}
        e.update(id=r["path"], rate_hz=int(sr), bandwidth_hz=int(float(r["bandwidth_hz"] or 0)),
                 n_samples=len(x), bits=bits, block=BLOCK, md5_pcm=hashlib.md5(y.tobytes()).hexdigest())
        entries.append(e)
        payloads.append(p)
        size += len(p)
    flush()
    with open(os.path.join(a.out, f"{a.split}-shards.tsv"), "w") as fh:
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
    c = sub.add_parser("check")
    c.add_argument("shards", nargs="+")
    a = ap.parse_args()
    build(a) if a.cmd == "build" else check(a)


if __name__ == "__main__":
    main()
