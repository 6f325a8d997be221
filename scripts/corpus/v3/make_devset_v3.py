#!/usr/bin/env python3
"""Dev set v3: labelled noisy/clean 48 kHz pairs from the dev split of data/manifest.tsv only.

    python scripts/corpus/v3/make_devset_v3.py [--manifest data/manifest.tsv] [--cache data/.cache]
        [--out data/devset_v3] [--per-category 24] [--seconds 6] [--split dev|train]

Five categories, --per-category pairs each: stationary, non-stationary, music, babble (noise of that
category), reverberant (speech through a held-out simulated room, plus a stationary or non-stationary noise).
Speech: dev speakers only (held out by whole speaker), each pair one speaker, that speaker's clips in a
random order 0.1-0.3 s apart until the length is filled; noise: dev files only (held out by whole file),
tiled when short. SNR evenly spread over --snr-min-db..--snr-max-db within each category (RMS over the
pair), speech at -32..-18 dBFS RMS, mixture peak <= -1 dBFS. Reverberant pairs: noisy = speech * room +
noise, clean = speech * early part of the room (direct path + 50 ms, rooms.early_target), so the target
keeps the early reflections. Writes OUT/{clean,noisy}/NNN.wav (16-bit) and OUT/meta.json (labels, files,
offsets, SNR). Deterministic: sorted inputs, random.Random(SEED).

--split train builds the same recipe from the train split instead (train speakers, noise files and rooms, its
own seed): a "train mirror" that is not a dev set. Scored beside dev v3 it separates what the model has not
learnt from what it does not carry over to new voices, noises and rooms (docs/quality.md, the train/dev gap).
--speech-split and --noise-split (rooms follow the noise) cross the two, to tell which of voices or noises
the model fails to carry over. Any set with train rooms uses the cache's simulated ones, so its bytes are
this machine's (no published fingerprint).
"""

import argparse
import csv
import json
import math
import os
import random
import shutil
import sys
from fractions import Fraction

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve, resample_poly

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rooms import early_target  # noqa: E402

RATE_HZ = 48000
SEED = "dfn4-devset-v3"
CATEGORIES = ["stationary", "non-stationary", "music", "babble", "reverberant"]


def load48(path):
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if sr != RATE_HZ:
        fr = Fraction(RATE_HZ, sr)
        x = resample_poly(x, fr.numerator, fr.denominator)
    return x


def rms(x):
    return math.sqrt(float(np.mean(x * x)) + 1e-20)


# The dev set's rooms are committed: rooms.py's simulation gives the same geometry and RT60 on every machine
# but not the same bits (float rounding), and the reverberant pairs must be the same bytes everywhere.
ROOMS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "data", "devset_v3_rooms")


def resolve(cache, path):
    if path.startswith("v3/rir/"):
        shipped = os.path.join(ROOMS_DIR, os.path.basename(path))
        if os.path.exists(shipped):
            return shipped
    return os.path.join(cache, path)  # x3/... and v3/... both live under the cache


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", default="data/manifest.tsv")
    ap.add_argument("--cache", default="data/.cache")
    ap.add_argument("--out", default="data/devset_v3")
    ap.add_argument("--per-category", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--snr-min-db", type=float, default=-5.0)
    ap.add_argument("--snr-max-db", type=float, default=20.0)
    ap.add_argument("--split", choices=["dev", "train"], default="dev")
    ap.add_argument("--speech-split", choices=["dev", "train"], help="the speakers' split (default: --split)")
    ap.add_argument("--noise-split", choices=["dev", "train"],
                    help="the noise files' and rooms' split (default: --split)")
    ap.add_argument("--match-dev-sources", action="store_true",
                    help="train speech: one train speaker per dev speaker, from the dev speaker's source (the same "
                         "corpus packages in the same shares, other people)")
    a = ap.parse_args()
    speech_split = a.speech_split or a.split
    noise_split = a.noise_split or a.split
    if a.match_dev_sources and speech_split != "train":
        ap.error("--match-dev-sources picks train speakers: it needs --speech-split train (or --split train)")
    with open(a.manifest, newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if not r["path"].startswith("v2/")]
    rows.sort(key=lambda r: r["path"])
    speech, source_of = {}, {}
    for r in rows:
        if r["kind"] == "speech" and int(r["rate_hz"]) >= 16000:
            source_of.setdefault(r["split"], {})[r["speaker"]] = r["source"]
            if r["split"] == speech_split:
                speech.setdefault(r["speaker"], []).append(r["path"])
    rows = [r for r in rows if r["split"] == noise_split]
    noise = {c: [r["path"] for r in rows if r["category"] == c and r["kind"] in ("noise", "music")
                 and float(r["active_s"] or 0) >= 1.0] for c in CATEGORIES[:4]}
    rooms = [r for r in rows if r["kind"] == "rir" and r["origin"] == "simulated"]
    if speech_split == noise_split:
        seed = SEED if speech_split == "dev" else f"{SEED}-{speech_split}-mirror"
    else:
        seed = f"{SEED}-{speech_split}-speech-{noise_split}-noise"
    match_dev_sources = a.match_dev_sources
    if match_dev_sources:
        seed = f"{seed}-match-dev-sources"
    rng = random.Random(seed)
    n = int(round(a.seconds * RATE_HZ))
    if os.path.exists(a.out):
        # Only an earlier dev set is replaced: anything else at --out is the user's and stays.
        if not all(os.path.exists(os.path.join(a.out, x)) for x in ("clean", "noisy", "meta.json")) or \
                set(os.listdir(a.out)) - {"clean", "noisy", "meta.json"}:
            ap.error(f"{a.out} exists and is not a dev set this script wrote: choose another --out")
        shutil.rmtree(a.out)
    os.makedirs(os.path.join(a.out, "clean"))
    os.makedirs(os.path.join(a.out, "noisy"))
    cache = {}

    def get(p):
        if p not in cache:
            cache[p] = load48(resolve(a.cache, p))
        return cache[p]

    speakers = sorted(speech)
    if match_dev_sources:
        # The pick has a generator of its own, so the mixtures below draw from `rng` alone.
        pick = random.Random(seed)
        chosen = []
        for dev_speaker in sorted(source_of["dev"]):
            same = [s for s in speakers if source_of["train"][s] == source_of["dev"][dev_speaker] and s not in chosen]
            chosen.append(same[pick.randrange(len(same))])
        speakers = chosen
    plan = []
    for cat in CATEGORIES:
        k = a.per_category
        snrs = [a.snr_min_db + (a.snr_max_db - a.snr_min_db) * i / max(1, k - 1) for i in range(k)]
        rng.shuffle(snrs)
        for i in range(k):
            plan.append((cat, snrs[i]))
    rng.shuffle(plan)
    meta = []
    for idx, (cat, snr_db) in enumerate(plan):
        spk = speakers[idx % len(speakers)]
        clips = list(speech[spk])
        rng.shuffle(clips)
        parts, used, total = [], [], 0
        j = 0
        while total < n:
            c = clips[j % len(clips)]
            j += 1
            x = get(c)
            gap = np.zeros(int(rng.uniform(0.1, 0.3) * RATE_HZ))
            parts += [x, gap]
            used.append(c)
            total += len(x) + len(gap)
        s = np.concatenate(parts)[:n]
        fade = int(0.01 * RATE_HZ)
        ramp = np.linspace(0.0, 1.0, fade)
        s[:fade] *= ramp
        s[-fade:] *= ramp[::-1]
        room = None
        if cat == "reverberant":
            room = rooms[rng.randrange(len(rooms))]
            h = get(room["path"])
            direct = int(dict(kv.split("=") for kv in room["flags"].split(","))["direct"])
            wet = fftconvolve(s, h)[:n]
            clean = fftconvolve(s, early_target(h, direct))[:n]
            # both shifted by the direct-path delay so the target lines up with the dry speech timing
            speech_in = wet
            ncat = "stationary" if idx % 2 == 0 else "non-stationary"
        else:
            clean = s
            speech_in = s
            ncat = cat
        npath = noise[ncat][rng.randrange(len(noise[ncat]))]
        z = get(npath)
        if len(z) < n:
            reps = []
            tot = 0
            while tot < n + len(z):
                reps += [z, np.zeros(int(rng.uniform(0.0, 0.5) * RATE_HZ))]
                tot += len(z) + len(reps[-1])
            z = np.concatenate(reps)
        off = rng.randrange(0, len(z) - n + 1)
        z = z[off:off + n].copy()
        level_db = rng.uniform(-32.0, -18.0)
        g = 10 ** (level_db / 20) / rms(speech_in)
        speech_in = speech_in * g
        clean = clean * g
        z *= rms(speech_in) / max(rms(z), 1e-9) * 10 ** (-snr_db / 20)
        noisy = speech_in + z
        peak = max(float(np.max(np.abs(noisy))), float(np.max(np.abs(clean))))
        if peak > 0.89:
            noisy *= 0.89 / peak
            clean *= 0.89 / peak
        name = f"{idx:03d}.wav"
        for d, y in (("clean", clean), ("noisy", noisy)):
            sf.write(os.path.join(a.out, d, name), np.clip(np.round(y * 32767), -32768, 32767).astype(np.int16),
                     RATE_HZ, subtype="PCM_16")
        meta.append(dict(name=name, category=cat, snr_db=round(snr_db, 3), speaker=spk, speech=used,
                         noise=npath, noise_offset_s=round(off / RATE_HZ, 4),
                         room=room["path"] if room else None, speech_rms_dbfs=round(level_db, 2)))
    with open(os.path.join(a.out, "meta.json"), "w") as fh:
        json.dump(dict(rate_hz=RATE_HZ, seconds=a.seconds, seed=seed, pairs=meta), fh, indent=1)
        fh.write("\n")
    print(f"{len(meta)} pairs ({speech_split} speech, {noise_split} noise) in {a.out}: {a.per_category} per category, {len(speakers)} speakers, "
          f"{len({m['noise'] for m in meta})} noise files, {len({m['room'] for m in meta if m['room']})} rooms")


if __name__ == "__main__":
    main()
