#!/usr/bin/env python3
"""Corpus v3 shards -> a trainer corpus (manifest.json + mono float32 WAV files), on the GPU machine.

The trainer (src/train/corpus.rs) reads a `manifest.json` of audio files; the shards (shard.py) are what
travels. This decodes every shard entry (numpy + lzma only, so it runs on the GPU machine's Python) into
OUT/<kind>/<shard>-<n>.wav at the entry's own rate, checks each decode against the shard's md5_pcm, and
writes OUT/manifest.json with kind (speech, noise, music, rir), split, rate, measured bandwidth and source.
`--dev-from` adds the dev split of another trainer corpus (corpus v2's data/corpus), so that the trainer's
built-in validation stays the one the shipped model was selected on; dev v3 is scored separately, with
the real metrics (scripts/eval). Entries whose id is also a dev file of that corpus are refused.

    python3 scripts/corpus/v3/to_trainer.py --shards /tmp/dfn4-stage --out /tmp/c3 \
        --dev-from data/corpus [--jobs 16]
"""

import argparse
import hashlib
import json
import os
import struct
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shard  # noqa: E402


def write_wav_f32(path, x, rate):
    data = np.asarray(x, dtype="<f4").tobytes()
    # WAVE_FORMAT_IEEE_FLOAT, mono, 32-bit, with the fact chunk float WAVs carry.
    fmt = struct.pack("<HHIIHHH", 3, 1, rate, rate * 4, 4, 32, 0)
    fact = struct.pack("<I", len(x))
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", 4) + fact
            + b"data" + struct.pack("<I", len(data)) + data)
    with open(path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def convert(job):
    path, out = job
    name = os.path.basename(path).rsplit(".", 1)[0]
    rows = []
    for k, (e, x) in enumerate(shard.iter_shard(path)):
        if hashlib.md5(x.tobytes()).hexdigest() != e["md5_pcm"]:
            raise SystemExit(f"{path}: entry {e['id']} does not decode to its md5_pcm")
        kind = e["kind"]
        rel = f"{kind}/{name}-{k:05d}.wav"
        write_wav_f32(os.path.join(out, rel), x, int(e["rate_hz"]))
        rows.append({"path": rel, "kind": kind, "split": e.get("split") or "train",
                     "sample_rate_hz": int(e["rate_hz"]), "source": e.get("source", ""),
                     "bandwidth_hz": float(e.get("bandwidth_hz") or 0.0), "id": e["id"],
                     "seconds": len(x) / float(e["rate_hz"])})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shards", required=True, help="folder of *.dsh")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dev-from", help="a trainer corpus whose dev entries are added")
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    a = ap.parse_args()
    t0 = time.time()
    shards = sorted(os.path.join(a.shards, f) for f in os.listdir(a.shards) if f.endswith(".dsh"))
    if not shards:
        raise SystemExit(f"no *.dsh in {a.shards}")
    for kind in ("speech", "noise", "music", "rir"):
        os.makedirs(os.path.join(a.out, kind), exist_ok=True)
    with ProcessPoolExecutor(a.jobs) as ex:
        rows = [r for part in ex.map(convert, [(s, a.out) for s in shards]) for r in part]
    dev = []
    if a.dev_from:
        base = os.path.abspath(a.dev_from)
        m = json.load(open(os.path.join(base, "manifest.json")))
        for f in m["files"]:
            if f.get("split") == "dev":
                dev.append(dict(f, path=os.path.join(base, f["path"])))
        dev_ids = {os.path.basename(f["path"]).rsplit(".", 1)[0] for f in dev}
        clash = [r["id"] for r in rows if os.path.basename(r["id"]).rsplit(".", 1)[0] in dev_ids]
        if clash:
            raise SystemExit(f"{len(clash)} training entries share a name with a dev file, e.g. {clash[:3]}")
    with open(os.path.join(a.out, "manifest.json"), "w") as fh:
        json.dump({"files": rows + dev}, fh)
    hours = {}
    for r in rows:
        hours[r["kind"]] = hours.get(r["kind"], 0.0) + r["seconds"] / 3600
    print(json.dumps({"shards": len(shards), "entries": len(rows), "dev_entries": len(dev),
                      "train_hours": {k: round(v, 3) for k, v in sorted(hours.items())},
                      "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
