#!/usr/bin/env python3
"""Noise for the corpus: megaglest ambience and widelands/oxygen/freedesktop sound effects.

Used by corpus_build.py; standard library only. Dev files are cut and stored exactly as in
corpus v1 (one FLAC per recording). Train keeps longer stretches (NOISE_CAP_S["train"]) and,
because every Ogg file carries ~3.5 kB of Vorbis headers, packs short sound effects of one
source and rate into files of about FX_GROUP_S seconds; ambience stays one file per recording.
"""

import glob
import os
import re

from corpus_audio import PROFILE, decode, rng_for, run, stats, write_audio

# Longest stretch kept per recording (s), by split and source. Dev: v1's values, frozen.
NOISE_CAP_S = {
    "dev": {"megaglest-data": 6.0, "widelands-data": 1.5, "oxygen-sounds": 1.5, "sound-theme-freedesktop": 2.5},
    "train": {"megaglest-data": 16.0, "widelands-data": 4.0, "oxygen-sounds": 3.0, "sound-theme-freedesktop": 4.0},
}
FX_GROUP_S = 20.0
FX_GAP_S = 0.25
# Whole noise files held out for dev (~12 %). Both winter wind files are the
# same recording in two encodings, so they go to dev together.
NOISE_DEV = {
    "megaglest-data": {"autumn/rain", "winter/wind", "winter_forest/wind", "mediterran/night"},
    "widelands-data": {"animals/bird3_00", "animals/frog", "animals/wolf_01", "hammering/hammering_01",
                       "smiths/sharpening", "woodcutting/fast_woodcutting_02", "barbarians/taverns/tavern_01",
                       "sawmill/sawmill_01", "farm/scythe_00", "mill/mill_turning_01"},
    "oxygen-sounds": {"Oxygen-Im-Phone-Ring", "Oxygen-Sys-App-Error", "Oxygen-Window-Move"},
    "sound-theme-freedesktop": {"phone-incoming-call", "camera-shutter", "bell"},
}


def prep_noise_item(src, dst, key, cap_s, ambience, split):
    """Decode, cut to at most cap_s (a fixed stretch), trim edges, normalise loudness."""
    prof = PROFILE[split]
    raw = dst + ".raw.wav"
    rate = decode(src, raw)
    dur, _, pk = stats(raw)
    if pk < -80:
        os.remove(raw)
        return None
    eff = ["gain", f"{-pk:.3f}"]
    if not ambience:
        # sound effects: drop leading/trailing silence and shorten long pauses
        eff += ["silence", "-l", "1", "0.01", "-50d", "-1", "0.25", "-50d"]
    mid = dst + ".mid.wav"
    run(["sox", "-R", "-D", raw, mid] + eff)
    os.remove(raw)
    dur, _, _ = stats(mid)
    if dur < 0.2:
        os.remove(mid)
        return None
    trim = []
    if dur > cap_s:
        start = rng_for(split, "noise-start", key).uniform(0.1 * (dur - cap_s), 0.9 * (dur - cap_s))
        trim = ["trim", f"{start:.3f}", f"{cap_s:.3f}"]
    cut = dst + ".cut.wav"
    run(["sox", "-R", "-D", mid, cut] + trim)
    os.remove(mid)
    dur, rms, pk2 = stats(cut)
    gain = min(prof["noise_rms_db"] - rms, prof["peak_db"] - pk2)
    run(["sox", "-R", "-D", cut, dst, "gain", f"{gain:.3f}"])
    os.remove(cut)
    return dur, rate


def noise_items(x):
    items = []
    spec = [
        ("megaglest-data", f"{x}/megaglest-data/usr/share/games/megaglest/tilesets", "*/sounds/*.*", True),
        ("widelands-data", f"{x}/widelands-data/usr/share/games/widelands/data/sound", "**/*.ogg", False),
        ("oxygen-sounds", f"{x}/oxygen-sounds/usr/share/sounds", "*.ogg", False),
        ("sound-theme-freedesktop", f"{x}/sound-theme-freedesktop/usr/share/sounds/freedesktop/stereo", "*.oga",
         False),
    ]
    for source, root, pat, amb in spec:
        files = sorted(glob.glob(os.path.join(root, pat), recursive=True))
        if not files:
            raise RuntimeError(f"no noise files for {source} under {root}")
        for f in files:
            # tilesets share sounds through symbolic links: keep each recording once
            if os.path.islink(f):
                continue
            rel = os.path.splitext(os.path.relpath(f, root))[0]
            if source == "megaglest-data":
                rel = rel.replace("/sounds/", "/")
            # spoken words are not noise: freedesktop channel names, widelands lobby/messages
            if re.search(r"audio-channel|message|lobby|under_attack|site_occupied", rel):
                continue
            split = "dev" if rel in NOISE_DEV[source] else "train"
            key = f"{source.split('-')[0]}-{rel.replace('/', '-')}"
            items.append(dict(key=key, src=f, rel=rel, source=source, split=split,
                              cap=NOISE_CAP_S[split][source], amb=amb or "ambient" in rel))
    for source, keep in NOISE_DEV.items():
        found = {i["rel"] for i in items if i["source"] == source}
        missing = sorted(keep - found)
        if missing:
            raise RuntimeError(f"dev noise files missing in {source}: {missing}")
    return items


def group_effects(prepared):
    """Pack train sound effects into ~FX_GROUP_S files per (source, rate), in a seeded order."""
    by = {}
    for it in prepared:
        by.setdefault((it["source"], it["rate"]), []).append(it)
    groups = []
    for (source, rate), lst in sorted(by.items()):
        lst = sorted(lst, key=lambda i: i["key"])
        rng_for("train", "fx-order", source, rate).shuffle(lst)
        cur, cur_s = [], 0.0
        for it in lst:
            cur.append(it)
            cur_s += it["dur"] + FX_GAP_S
            if cur_s >= FX_GROUP_S:
                groups.append((source, rate, cur))
                cur, cur_s = [], 0.0
        if cur:
            groups.append((source, rate, cur))
    return groups


def build_noise(x, out_dir, tmp, pool, manifest):
    items = noise_items(x)
    jobs = [(it["src"], os.path.join(tmp, it["key"] + ".wav"), it["key"], it["cap"], it["amb"], it["split"])
            for it in items]
    res = pool.map(prep_noise_item, jobs)
    fx = []
    for it, r, j in zip(items, res, jobs):
        if r is None:
            continue
        it = dict(it, dur=r[0], rate=r[1], tmp=j[1])
        if it["split"] == "train" and not it["amb"]:
            fx.append(it)
            continue
        rel = f"noise/{it['split']}/{it['key']}.{PROFILE[it['split']]['ext']}"
        write_audio([it["tmp"]], os.path.join(out_dir, rel))
        os.remove(it["tmp"])
        manifest.append(dict(path=rel, kind="noise", split=it["split"], sample_rate_hz=it["rate"],
                             source=it["source"], duration_s=round(it["dur"], 3)))
    gap = os.path.join(tmp, "fx-gap-{}.wav")
    counters = {}
    for source, rate, its in group_effects(fx):
        g = gap.format(rate)
        if not os.path.exists(g):
            run(["sox", "-R", "-D", "-n", "-r", str(rate), "-c", "1", "-e", "floating-point", "-b", "32", g,
                 "trim", "0", f"{FX_GAP_S}"])
        n = counters.get(source, 0)
        counters[source] = n + 1
        rel = f"noise/train/{source.split('-')[0]}-fx-{rate // 1000}k-{n:03d}.ogg"
        inputs = []
        for it in its:
            inputs += [it["tmp"], g]
        write_audio(inputs[:-1], os.path.join(out_dir, rel))
        manifest.append(dict(path=rel, kind="noise", split="train", sample_rate_hz=rate, source=source,
                             duration_s=round(sum(it["dur"] for it in its) + FX_GAP_S * (len(its) - 1), 3)))
    for it in fx:
        os.remove(it["tmp"])
    print(f"noise: {sum(1 for r in res if r)} recordings", flush=True)
