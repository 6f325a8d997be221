#!/usr/bin/env python3
"""Build the compact dfn4 training corpus from extracted Debian packages.

Called by scripts/build_corpus.sh (which fetches and extracts the packages and
installs sox, ffmpeg, espeak-ng and flite). Standard library only, so it runs on
the system python3 with no virtual environment.

Output (under --out, default data/corpus):
  speech/{train,dev}/*.flac, noise/{train,dev}/*.flac   mono FLAC, 16-bit, at the
      source's own sample rate (sources above 48 kHz are brought down to 48 kHz),
      long silences trimmed, loudness-normalised to TARGET_RMS_DB.
  manifest.json                                          file list + summary.

Determinism: every random choice comes from random.Random seeded with a fixed
string, file lists are sorted before shuffling, sox runs with -R (repeatable) and
-D (no dither), and FLAC comments are emptied.
"""

import argparse
import concurrent.futures as cf
import glob
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

import corpus_text

SEED = "dfn4-corpus-v1"
# Speech and noise are stored quietly: each 6 dB less costs one bit less per
# sample in FLAC (~10 % of the size) and the quantisation floor stays ~70 dB
# below the signal. The trainer rescales every clip anyway.
TARGET_RMS_DB = -30.0
# Noise is stored 6 dB lower still: it is mixed at -5..15 dB SNR below speech,
# so its own quantisation floor stays > 60 dB under the mixture.
NOISE_RMS_DB = -36.0
PEAK_MAX_DB = -1.0
MAX_RATE_HZ = 48000
CHUNK_S = 10.0  # speech items are concatenated into files of about this length
SIZE_LIMIT_BYTES = 32_000_000

# Speech budgets in seconds of trimmed audio, per (source, split).
BUDGET_S = {
    ("asterisk-core-sounds-en-g722", "train"): 500.0,
    ("asterisk-core-sounds-es-g722", "train"): 260.0,
    ("asterisk-core-sounds-fr-g722", "dev"): 250.0,
    ("klettres-data", "train"): 150.0,
    ("klettres-data", "dev"): 20.0,
    ("espeak-ng", "train"): 90.0,
    ("espeak-ng", "dev"): 25.0,
    ("flite", "train"): 50.0,
    ("flite", "dev"): 12.0,
}
# Whole speakers held out for the dev split.
ASTERISK_DEV = {"fr"}  # June Wallack (fr_CA); en and es are both Allison Smith
KLETTRES_DEV = {"he", "it", "nl"}
ESPEAK_DEV_VARIANTS = {"f4", "m6", "klatt3"}
ESPEAK_DEV_LANGS = {"pl", "sv", "tr", "pt-br"}
FLITE_TRAIN = ["slt", "awb", "kal16"]
FLITE_DEV = ["rms"]

# Noise: longest stretch kept per file (s), by source.
NOISE_CAP_S = {
    "megaglest-data": 6.0,
    "widelands-data": 1.5,
    "oxygen-sounds": 1.5,
    "sound-theme-freedesktop": 2.5,
}
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


def run(cmd, **kw):
    """Run a command, raising with its stderr on failure."""
    res = subprocess.run(cmd, capture_output=True, text=kw.pop("text", True), **kw)
    if res.returncode != 0:
        raise RuntimeError(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr}")
    return res


def rng_for(*key):
    return random.Random(SEED + ":" + ":".join(str(k) for k in key))


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


def prep_speech_item(src, dst, key, fmt=None):
    """Decode, trim long silences, normalise loudness, add a short random gap.

    Returns (duration_s, rate) or None when nothing audible is left."""
    raw = dst + ".raw.wav"
    rate = decode(src, raw, fmt)
    _, _, pk = stats(raw)
    if pk < -80:
        os.remove(raw)
        return None
    gap_s = rng_for("gap", key).uniform(0.15, 0.45)
    # Thresholds are relative to the item's own peak: bring the peak to 0 dB first.
    trimmed = dst + ".trim.wav"
    run(["sox", "-R", "-D", raw, trimmed, "gain", f"{-pk:.3f}",
         "silence", "-l", "1", "0.02", "-45d", "-1", "0.30", "-45d"])
    os.remove(raw)
    dur, rms, pk2 = stats(trimmed)
    if dur < 0.25:
        os.remove(trimmed)
        return None
    gain = min(TARGET_RMS_DB - rms, PEAK_MAX_DB - pk2)
    run(["sox", "-R", "-D", trimmed, dst, "gain", f"{gain:.3f}", "pad", "0", f"{gap_s:.3f}"])
    os.remove(trimmed)
    return dur + gap_s, rate


def prep_noise_item(src, dst, key, cap_s, ambience):
    """Decode, cut to at most cap_s (a fixed stretch), trim edges, normalise loudness."""
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
        start = rng_for("noise-start", key).uniform(0.1 * (dur - cap_s), 0.9 * (dur - cap_s))
        trim = ["trim", f"{start:.3f}", f"{cap_s:.3f}"]
    cut = dst + ".cut.wav"
    run(["sox", "-R", "-D", mid, cut] + trim)
    os.remove(mid)
    dur, rms, pk2 = stats(cut)
    gain = min(NOISE_RMS_DB - rms, PEAK_MAX_DB - pk2)
    run(["sox", "-R", "-D", cut, dst, "gain", f"{gain:.3f}"])
    os.remove(cut)
    return dur, rate


def write_flac(inputs, dst):
    """Concatenate float WAVs (same rate) into a 16-bit FLAC, peak-safe, deterministic."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    run(["sox", "-R", "-D"] + inputs + ["--comment", "", "-b", "16", "-C", "8", dst])


class Pool:
    """A small thread pool running subprocess-heavy jobs, preserving order."""

    def __init__(self, jobs):
        self.ex = cf.ThreadPoolExecutor(max_workers=jobs)

    def map(self, fn, items):
        return list(self.ex.map(lambda a: fn(*a), items))


# ---------------------------------------------------------------------------
# Speech sources: each returns a list of items (key, src, fmt, est_s, voice, split)


def asterisk_items(x):
    items = []
    for lang in ("en", "es", "fr"):
        root = glob.glob(f"{x}/asterisk-core-sounds-{lang}-g722/usr/share/asterisk/sounds/*")[0]
        voice = os.path.basename(root)
        split = "dev" if lang in ASTERISK_DEV else "train"
        for f in sorted(glob.glob(f"{root}/**/*.g722", recursive=True)):
            rel = os.path.relpath(f, root)[:-5]
            # silence/ holds no speech; beeps and tones are not speech either
            if rel.startswith("silence/") or re.search(r"beep|tone|ding|dong", rel):
                continue
            est = os.path.getsize(f) / 8000.0  # G.722 at 64 kbit/s
            if est < 0.8:
                continue
            items.append(dict(key=f"ast-{lang}-{rel.replace('/', '-')}", src=f, fmt="g722", est=est,
                              voice=voice, split=split, source=f"asterisk-core-sounds-{lang}-g722"))
    return items


def klettres_items(x):
    items = []
    root = f"{x}/klettres-data/usr/share/klettres"
    for lang in sorted(os.listdir(root)):
        files = sorted(glob.glob(f"{root}/{lang}/*/*.ogg"))
        if not files:
            continue
        split = "dev" if lang in KLETTRES_DEV else "train"
        for f in files:
            rel = os.path.relpath(f, root)[:-4].replace("/", "-")
            items.append(dict(key=f"klt-{rel}", src=f, fmt=None, est=1.0, voice=f"klettres-{lang}",
                              split=split, source="klettres-data"))
    return items


def choose(items, budget_s, group_key):
    """Deterministically pick items up to budget_s (estimated), balanced over groups."""
    groups = {}
    for it in items:
        groups.setdefault(it[group_key], []).append(it)
    order = []
    for g in sorted(groups):
        lst = list(groups[g])
        rng_for("choose", g).shuffle(lst)
        groups[g] = lst
    # round-robin over groups so every speaker gets an equal share
    idx = 0
    total = 0.0
    names = sorted(groups)
    while total < budget_s and any(groups[n] for n in names):
        n = names[idx % len(names)]
        idx += 1
        if groups[n]:
            it = groups[n].pop(0)
            order.append(it)
            total += it["est"]
    return order


def chunk_and_write(prepared, out_dir, prefix, tmp, manifest, source, split, budget_s):
    """Group prepared items (same voice) into ~CHUNK_S files until budget_s is reached."""
    by_voice = {}
    for it in prepared:
        # a speaker recorded at two rates gives two groups: a file has one rate
        by_voice.setdefault((it["voice"], it["rate"]), []).append(it)
    taken = 0.0
    chunks = []
    # interleave voices so a cut-off budget still covers every voice
    queues = {v: list(lst) for v, lst in sorted(by_voice.items())}
    current = {v: [] for v in queues}
    cur_len = {v: 0.0 for v in queues}
    names = sorted(queues)
    i = 0
    while taken < budget_s and any(queues[v] for v in names):
        v = names[i % len(names)]
        i += 1
        if not queues[v]:
            continue
        it = queues[v].pop(0)
        # an item that would overshoot the budget by more than 10 s is left out
        if taken > 0 and taken + it["dur"] > budget_s + 10.0:
            continue
        current[v].append(it)
        cur_len[v] += it["dur"]
        taken += it["dur"]
        if cur_len[v] >= CHUNK_S:
            chunks.append((v, current[v]))
            current[v], cur_len[v] = [], 0.0
    for v in names:
        if current[v]:
            chunks.append((v, current[v]))
    counters = {}
    for (v, rate), its in chunks:
        n = counters.get(v, 0)
        counters[v] = n + 1
        short = re.sub(r"^(klettres|flite)-", "", v)
        name = f"{prefix}-{re.sub(r'[^A-Za-z0-9_+-]', '_', short)}-{n:03d}.flac"
        rel = f"speech/{split}/{name}"
        write_flac([it["tmp"] for it in its], os.path.join(out_dir, rel))
        manifest.append(dict(path=rel, kind="speech", split=split, sample_rate_hz=rate, source=source,
                             voice=v, duration_s=round(sum(it["dur"] for it in its), 3)))


def build_speech(x, out_dir, tmp, pool, manifest):
    all_items = asterisk_items(x) + klettres_items(x)
    tts = corpus_text.tts_items(x, tmp, pool, rng_for, ESPEAK_DEV_VARIANTS, ESPEAK_DEV_LANGS,
                                FLITE_TRAIN, FLITE_DEV, BUDGET_S)
    all_items += tts
    for (source, split), budget in sorted(BUDGET_S.items()):
        cands = [it for it in all_items if it["source"] == source and it["split"] == split]
        if not cands:
            raise RuntimeError(f"no candidates for {source}/{split}")
        # klettres items shrink a lot when trimmed: over-select, then cut to budget
        factor = 3.0 if source == "klettres-data" else 1.3
        picked = choose(cands, budget * factor, "voice")
        jobs = [(it["src"], os.path.join(tmp, it["key"] + ".wav"), it["key"], it["fmt"]) for it in picked]
        res = pool.map(prep_speech_item, jobs)
        prepared = []
        for it, r, j in zip(picked, res, jobs):
            if r is None:
                continue
            it = dict(it, dur=r[0], rate=r[1], tmp=j[1])
            prepared.append(it)
        prefix = {"asterisk-core-sounds-en-g722": "ast-en", "asterisk-core-sounds-es-g722": "ast-es",
                  "asterisk-core-sounds-fr-g722": "ast-fr", "klettres-data": "klt", "espeak-ng": "esp",
                  "flite": "flite"}[source]
        chunk_and_write(prepared, out_dir, prefix, tmp, manifest, source, split, budget)
        for it in prepared:
            os.remove(it["tmp"])
        print(f"speech {source:32s} {split:5s} {len(prepared)} items", flush=True)


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
            items.append(dict(key=key, src=f, rel=rel, source=source, split=split, cap=NOISE_CAP_S[source],
                              amb=amb or "ambient" in rel))
    for source, keep in NOISE_DEV.items():
        found = {i["rel"] for i in items if i["source"] == source}
        missing = sorted(keep - found)
        if missing:
            raise RuntimeError(f"dev noise files missing in {source}: {missing}")
    return items


def build_noise(x, out_dir, tmp, pool, manifest):
    items = noise_items(x)
    jobs = [(it["src"], os.path.join(tmp, it["key"] + ".wav"), it["key"], it["cap"], it["amb"]) for it in items]
    res = pool.map(prep_noise_item, jobs)
    for it, r, j in zip(items, res, jobs):
        if r is None:
            continue
        rel = f"noise/{it['split']}/{it['key']}.flac"
        write_flac([j[1]], os.path.join(out_dir, rel))
        os.remove(j[1])
        manifest.append(dict(path=rel, kind="noise", split=it["split"], sample_rate_hz=r[1], source=it["source"],
                             duration_s=round(r[0], 3)))
    print(f"noise: {sum(1 for r in res if r)} files", flush=True)


def summarise(files, out_dir):
    by = {}
    for f in files:
        k = (f["kind"], f["split"], f["source"])
        d = by.setdefault(k, dict(kind=k[0], split=k[1], source=k[2], files=0, hours=0.0, bytes=0))
        d["files"] += 1
        d["hours"] += f["duration_s"] / 3600.0
        d["bytes"] += os.path.getsize(os.path.join(out_dir, f["path"]))
    rows = [dict(v, hours=round(v["hours"], 4)) for _, v in sorted(by.items())]
    per_ks = {}
    for r in rows:
        per_ks[f"{r['kind']}/{r['split']}"] = round(per_ks.get(f"{r['kind']}/{r['split']}", 0.0) + r["hours"], 4)
    total_bytes = sum(r["bytes"] for r in rows)
    return dict(hours_by_kind_split=per_ks, by_source=rows, total_files=len(files), total_bytes=total_bytes,
                target_rms_dbfs=TARGET_RMS_DB, seed=SEED)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extracted", required=True, help="folder with one extracted package per subfolder")
    ap.add_argument("--out", default="data/corpus")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    out = args.out
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    pool = Pool(args.jobs)
    manifest = []
    with tempfile.TemporaryDirectory(prefix="dfn4-corpus-") as tmp:
        build_speech(args.extracted, out, tmp, pool, manifest)
        build_noise(args.extracted, out, tmp, pool, manifest)
    manifest.sort(key=lambda f: f["path"])
    summary = summarise(manifest, out)
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(dict(files=manifest, summary=summary), fh, indent=1, sort_keys=False)
        fh.write("\n")
    for r in summary["by_source"]:
        print(f"{r['kind']:6s} {r['split']:5s} {r['source']:32s} files={r['files']:4d} "
              f"min={r['hours'] * 60:6.2f} MB={r['bytes'] / 1e6:6.2f}")
    print(f"total: {summary['total_files']} files, {summary['total_bytes'] / 1e6:.2f} MB")
    if summary["total_bytes"] > SIZE_LIMIT_BYTES:
        sys.exit(f"corpus is {summary['total_bytes']} bytes, over the {SIZE_LIMIT_BYTES} limit")


if __name__ == "__main__":
    main()
