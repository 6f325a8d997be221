#!/usr/bin/env python3
"""Corpus v3 inventory: filters, splits and data/manifest.tsv from the per-file measurements.

    python scripts/corpus/v3/inventory.py --cache data/.cache [--v2 data/corpus] \
        --manifest data/manifest.tsv --dropped data/manifest_dropped.tsv

Reads $CACHE/v3/measure.jsonl (measure_all.py), $CACHE/v3/rir/rooms.tsv (rooms.py), $CACHE/v3/babble/*.tsv
(babble.py) and, when present, corpus v2's manifest.json + its measurements ($CACHE/v3/measure_v2.jsonl).
Writes one manifest row per kept file and one dropped row per removed file, with the filter that removed
it. Paths: `x3/...` is under $CACHE/x3 (unpacked packages), `v3/...` under $CACHE/v3 (generated here),
`v2/...` under corpus v2's folder (data/corpus). Pure function of its inputs (sorted, no randomness).
"""

import argparse
import hashlib
import json
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sources import KLETTRES_DEV, enumerate_sources, v1_dev_noise  # noqa: E402

COLUMNS = ["path", "source", "kind", "origin", "speaker", "language", "seconds", "active_s", "rate_hz",
           "bandwidth_hz", "rolloff995_hz", "split", "category", "flags", "md5"]

# Speech held out by whole speaker (dev v3). klettres' three are corpus v1's dev speakers.
DEV_SPEAKERS = {"tuxpaint:da", "tuxpaint:lt", "tuxpaint:nl", "hedgewars:Default_pl", "kajongg:de-female2"} | {
    f"klettres:{s}" for s in KLETTRES_DEV}
ROOM_DEV_EVERY = 20  # simulated rooms whose index is a multiple of this are dev rooms
NOISE_DEV_PERCENT = 8  # noise and music files held out by whole file: md5-hash bucket < this

# Speech quality filters (data/README.md, "Quality filters")
MIN_ACTIVE_S = 0.25  # too short: less active speech than this
MAX_CLIP_FRAC = 1e-3  # clipping: more than 0.1 % of samples at >= 99 % of full scale
MIN_RANGE_DB = 20.0  # audible background: quiet frames (10th percentile) within this of loud ones (95th)
FLAG_RANGE_DB = 25.0  # kept but flagged `floor<25dB` between MIN_RANGE_DB and this
RANGE_MIN_CLIP_S = 1.0  # clips shorter than this are judged by their speaker's median over longer clips
RANGE_MIN_LONG_CLIPS = 10  # ... when the speaker has at least this many longer clips
TONAL_FLATNESS = 0.01  # music / hum / effects under the voice: quiet frames tonal (flatness below this)
TONAL_FLOOR_DB = -50.0  # ... and loud (10th-percentile frame above this, dBFS)
TONAL_MIN_RANGE_DB = 30.0  # ... and far enough under the speech to be pauses, not soft voiced speech (whose
#                            harmonics made a first version of this rule drop ~1,300 clean clips)
# Noise / music filters
MIN_NOISE_ACTIVE_S = 0.1
SILENT_PEAK_DB = -60.0
STATIONARY_SPREAD_DB = 6.0  # noise category: 10-90 % spread of 100 ms levels at most this -> stationary
STATIONARY_MIN_S = 2.0


def bucket(md5):
    return int(hashlib.sha256(md5.encode()).hexdigest()[:8], 16) % 100


def fmt(v):
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if v == v else ""
    return str(v)


def speech_rows(cands, meas):
    """Filter speech candidates; returns (rows, dropped)."""
    rows, dropped = [], []
    seen = {}
    clips = []
    for c in cands:
        m = meas.get(c.path)
        if c.drop:
            dropped.append((c, m, "name: " + c.drop))
            continue
        if m is None or "error" in m:
            dropped.append((c, m, "undecodable: " + (m or {}).get("error", "not measured")))
            continue
        if m["md5"] in seen:
            dropped.append((c, m, "duplicate of " + seen[m["md5"]]))
            continue
        seen[m["md5"]] = c.path
        clips.append((c, m))
    # the speaker's median range over its longer clips judges its short clips
    long_ranges = defaultdict(list)
    for c, m in clips:
        if m["seconds"] >= RANGE_MIN_CLIP_S:
            long_ranges[c.speaker].append(m["range_db"])
    spk_range = {}
    for s, v in long_ranges.items():
        if len(v) >= RANGE_MIN_LONG_CLIPS:
            v = sorted(v)
            spk_range[s] = v[len(v) // 2]
    for c, m in clips:
        flags = []
        if m["seconds"] >= RANGE_MIN_CLIP_S:
            rng = m["range_db"]
        else:
            rng = spk_range.get(c.speaker)
            if rng is None:
                flags.append("background-unmeasured")
        ff = m["floor_flatness"]
        reason = None
        if m["active_s"] < MIN_ACTIVE_S:
            reason = f"too short: {m['active_s']:.2f} s active"
        elif m["clip_frac"] > MAX_CLIP_FRAC:
            reason = f"clipping: {100 * m['clip_frac']:.2f} % of samples at full scale"
        elif rng is not None and rng < MIN_RANGE_DB:
            who = "clip" if m["seconds"] >= RANGE_MIN_CLIP_S else "speaker median"
            reason = f"background: floor {rng:.1f} dB under the speech ({who})"
        elif (ff == ff and ff is not None and ff < TONAL_FLATNESS and m["floor_p10_db"] > TONAL_FLOOR_DB
              and m["range_db"] >= TONAL_MIN_RANGE_DB):
            reason = f"tonal background (music/hum/effects): flatness {ff:.4f} at {m['floor_p10_db']:.1f} dBFS"
        if reason:
            dropped.append((c, m, reason))
            continue
        if rng is not None and rng < FLAG_RANGE_DB:
            flags.append("floor<25dB")
        if m["rate_hz"] < 22050:
            flags.append("rate<22050")
        split = "dev" if c.speaker in DEV_SPEAKERS else "train"
        rows.append(dict(path="x3/" + c.path, source=c.source, kind="speech", origin="recorded", speaker=c.speaker,
                         language=c.language, seconds=m["seconds"], active_s=m["active_s"], rate_hz=m["rate_hz"],
                         bandwidth_hz=m["bandwidth_hz"], rolloff995_hz=m["rolloff995_hz"], split=split,
                         category=c.hint, flags=",".join(flags), md5=m["md5"]))
    return rows, dropped


def noise_rows(cands, meas, seen_md5):
    rows, dropped = [], []
    for c in cands:
        m = meas.get(c.path)
        if c.drop:
            dropped.append((c, m, "name: " + c.drop))
            continue
        if m is None or "error" in m:
            dropped.append((c, m, "undecodable: " + (m or {}).get("error", "not measured")))
            continue
        if m["md5"] in seen_md5:
            dropped.append((c, m, "duplicate of " + seen_md5[m["md5"]]))
            continue
        seen_md5[m["md5"]] = c.path
        if c.kind != "rir" and (m["peak_db"] < SILENT_PEAK_DB or m["active_s"] < MIN_NOISE_ACTIVE_S):
            dropped.append((c, m, f"silent or too short: peak {m['peak_db']:.1f} dBFS, {m['active_s']:.2f} s active"))
            continue
        if c.kind == "music":
            cat = "music"
        elif c.kind == "rir":
            cat = "measured"
        elif m["spread_db"] <= STATIONARY_SPREAD_DB and m["seconds"] >= STATIONARY_MIN_S:
            cat = "stationary"
        else:
            cat = "non-stationary"
        if c.kind == "rir":
            split = "dev"  # the few measured responses are the check, not training material
        else:
            split = "dev" if (v1_dev_noise(c.path) or bucket(m["md5"]) < NOISE_DEV_PERCENT) else "train"
        flags = []
        if m["clip_frac"] > MAX_CLIP_FRAC:
            flags.append("clipped")
        if m["rate_hz"] < 22050:
            flags.append("rate<22050")
        if c.hint:
            flags.append(c.hint)
        rows.append(dict(path="x3/" + c.path, source=c.source, kind=c.kind, origin="recorded", speaker="",
                         language="", seconds=m["seconds"], active_s=m["active_s"], rate_hz=m["rate_hz"],
                         bandwidth_hz=m["bandwidth_hz"], rolloff995_hz=m["rolloff995_hz"], split=split,
                         category=cat, flags=",".join(flags), md5=m["md5"]))
    return rows, dropped


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as fh:
        h.update(fh.read())
    return h.hexdigest()


def rir_rows(cache):
    """Simulated rooms (rooms.py): every ROOM_DEV_EVERY-th room index is held out for dev v3."""
    p = os.path.join(cache, "v3", "rir", "rooms.tsv")
    rows = []
    if not os.path.exists(p):
        return rows
    with open(p) as fh:
        head = fh.readline().rstrip("\n").split("\t")
        for line in fh:
            r = dict(zip(head, line.rstrip("\n").split("\t")))
            rows.append(dict(path="v3/rir/" + r["file"], source="pyroomacoustics-0.10.1", kind="rir",
                             origin="simulated", speaker="", language="",
                             seconds=round(int(r["samples"]) / 48000, 3), active_s="", rate_hz=48000,
                             bandwidth_hz=24000, rolloff995_hz="",
                             split="dev" if int(r["index"]) % ROOM_DEV_EVERY == 0 else "train",
                             category=f"rt60={r['rt60_measured_s']}",
                             flags=f"dims={r['dims_m']},distance={r['distance_m']},direct={r['direct_sample']}",
                             md5=md5_file(os.path.join(cache, "v3", "rir", r["file"]))))
    return rows


def table_rows(path):
    """Rows of a generated table written by babble.py / v2.py (already in manifest columns)."""
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as fh:
        head = fh.readline().rstrip("\n").split("\t")
        for line in fh:
            rows.append(dict(zip(head, line.rstrip("\n").split("\t"))))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default="data/.cache")
    ap.add_argument("--manifest", default="data/manifest.tsv")
    ap.add_argument("--dropped", default="data/manifest_dropped.tsv")
    a = ap.parse_args()
    x3 = os.path.join(a.cache, "x3")
    meas = {}
    with open(os.path.join(a.cache, "v3", "measure.jsonl")) as fh:
        for line in fh:
            d = json.loads(line)
            meas[d["path"]] = d
    cands = enumerate_sources(x3)
    sp, sd = speech_rows([c for c in cands if c.kind == "speech"], meas)
    seen = {r["md5"]: r["path"][3:] for r in sp}
    nr, nd = noise_rows([c for c in cands if c.kind != "speech"], meas, dict(seen))
    rows = sp + nr + rir_rows(a.cache)
    rows += table_rows(os.path.join(a.cache, "v3", "babble", "babble.tsv"))
    rows += table_rows(os.path.join(a.cache, "v3", "v2_rows.tsv"))
    rows.sort(key=lambda r: (r["kind"], r["split"], r["path"]))
    with open(a.manifest, "w") as fh:
        fh.write("\t".join(COLUMNS) + "\n")
        for r in rows:
            fh.write("\t".join(fmt(r.get(k, "")) for k in COLUMNS) + "\n")
    with open(a.dropped, "w") as fh:
        fh.write("path\tsource\tkind\tspeaker\tseconds\treason\n")
        for c, m, why in sorted(sd + nd, key=lambda t: t[0].path):
            secs = fmt(m["seconds"]) if m and "seconds" in m else ""
            fh.write(f"x3/{c.path}\t{c.source}\t{c.kind}\t{c.speaker}\t{secs}\t{why}\n")
    print(f"{len(rows)} manifest rows, {len(sd) + len(nd)} dropped")


if __name__ == "__main__":
    main()
