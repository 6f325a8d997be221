#!/usr/bin/env python3
"""Build the compact dfn4 training corpus (v2) from extracted Debian packages and TTS voices.

Called by scripts/corpus/build_corpus.sh (which fetches and extracts the packages, installs sox,
ffmpeg, espeak-ng, flite and Festival with its voices, and the piper virtual environment).
Standard library only, so it runs on the system python3.

Output (under --out, default data/corpus):
  speech/train/*.ogg, noise/train/*.ogg   Ogg Vorbis I, mono, quality 3, at the source's own
      sample rate (never upsampled; sources above 48 kHz are brought down to 48 kHz), long
      silences trimmed, speech at -20 dBFS RMS, noise at -26 dBFS RMS, peaks <= -3 dBFS.
  speech/dev/*.flac, noise/dev/*.flac     exactly corpus v1's dev split (16-bit FLAC, v1
      levels, v1 seed): byte-identical, so scores on scripts/corpus/make_devset.py's set compare.
  manifest.json                           file list + summary.

Modules: corpus_audio (helpers, per-split settings), corpus_text (sentences, espeak-ng,
flite), corpus_voices (Festival, piper), corpus_noise (noise).

Determinism: every random choice comes from random.Random seeded with the split's seed
string and a key, file lists are sorted before shuffling, sox runs with -R (repeatable,
which also fixes the Ogg serial number) and -D (no dither), comments are emptied, and
piper's onnxruntime generator is seeded (corpus_piper.py).
"""

import argparse
import concurrent.futures as cf
import glob
import json
import os
import re
import shutil
import sys
import tempfile

import corpus_text
import corpus_voices
from corpus_audio import PROFILE, VORBIS_QUALITY, Pool, decode, rng_for, run, stats, write_audio
from corpus_noise import build_noise

SEED = PROFILE["train"]["seed"]
SIZE_LIMIT_BYTES = 36_000_000  # whole data/corpus, manifest included

# Speech budgets in seconds of trimmed audio (gaps included), per (source, split). Dev: v1's,
# frozen. Allison Smith (asterisk en + es, one speaker) has ~57 min of usable prompts; all of
# them would take ~14.6 MB and leave her > 60 % of the training speech within the size limit,
# so she gets 2 x 19 min, under half of it.
BUDGET_S = {
    ("asterisk-core-sounds-en-g722", "train"): 1140.0,
    ("asterisk-core-sounds-es-g722", "train"): 1140.0,
    ("asterisk-core-sounds-fr-g722", "dev"): 250.0,
    ("klettres-data", "train"): 660.0,
    ("klettres-data", "dev"): 20.0,
    ("espeak-ng", "train"): 300.0,
    ("espeak-ng", "dev"): 25.0,
    ("flite", "train"): 300.0,
    ("flite", "dev"): 12.0,
    ("festival", "train"): 840.0,
    ("piper-tts", "train"): 330.0,
}
PREFIX = {"asterisk-core-sounds-en-g722": "ast-en", "asterisk-core-sounds-es-g722": "ast-es",
          "asterisk-core-sounds-fr-g722": "ast-fr", "klettres-data": "klt", "espeak-ng": "esp",
          "flite": "flite", "festival": "fest", "piper-tts": "piper"}
# Whole speakers held out for the dev split (unchanged since v1).
ASTERISK_DEV = {"fr"}  # June Wallack (fr_CA); en and es are both Allison Smith
KLETTRES_DEV = {"he", "it", "nl"}
ESPEAK_DEV_VARIANTS = {"f4", "m6", "klatt3"}
ESPEAK_DEV_LANGS = {"pl", "sv", "tr", "pt-br"}
FLITE_TRAIN = ["slt", "awb", "kal16"]
FLITE_DEV = ["rms"]


def prep_speech_item(src, dst, key, fmt, split):
    """Decode, trim long silences, normalise loudness, add a short random gap.

    Returns (duration_s, rate) or None when nothing audible is left."""
    prof = PROFILE[split]
    raw = dst + ".raw.wav"
    rate = decode(src, raw, fmt)
    _, _, pk = stats(raw)
    if pk < -80:
        os.remove(raw)
        return None
    gap_s = rng_for(split, "gap", key).uniform(0.15, 0.45)
    # Thresholds are relative to the item's own peak: bring the peak to 0 dB first.
    trimmed = dst + ".trim.wav"
    run(["sox", "-R", "-D", raw, trimmed, "gain", f"{-pk:.3f}",
         "silence", "-l", "1", "0.02", "-45d", "-1", "0.30", "-45d"])
    os.remove(raw)
    dur, rms, pk2 = stats(trimmed)
    if dur < 0.25:
        os.remove(trimmed)
        return None
    gain = min(prof["speech_rms_db"] - rms, prof["peak_db"] - pk2)
    run(["sox", "-R", "-D", trimmed, dst, "gain", f"{gain:.3f}", "pad", "0", f"{gap_s:.3f}"])
    os.remove(trimmed)
    return dur + gap_s, rate


# ---------------------------------------------------------------------------
# Speech sources: each returns a list of items (key, src, fmt, est, voice, split, source)


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


def choose(items, budget_s, group_key, split):
    """Deterministically pick items up to budget_s (estimated), balanced over groups."""
    groups = {}
    for it in items:
        groups.setdefault(it[group_key], []).append(it)
    order = []
    for g in sorted(groups):
        lst = list(groups[g])
        rng_for(split, "choose", g).shuffle(lst)
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


def chunk_and_write(prepared, out_dir, prefix, manifest, source, split, budget_s):
    """Group prepared items (same voice) into ~chunk_s files until budget_s is reached."""
    chunk_s = PROFILE[split]["chunk_s"]
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
    voice_s = {v: 0.0 for v in names}
    i = 0
    while taken < budget_s and any(queues[v] for v in names):
        if split == "dev":
            # v1's order (one item per voice in turn), kept so dev stays byte-identical
            v = names[i % len(names)]
            i += 1
            if not queues[v]:
                continue
        else:
            # the voice with the least time so far: equal time per speaker, whatever item lengths
            v = min((n for n in names if queues[n]), key=lambda n: (voice_s[n], n))
        it = queues[v].pop(0)
        # an item that would overshoot the budget by more than 10 s is left out
        if taken > 0 and taken + it["dur"] > budget_s + 10.0:
            continue
        voice_s[v] += it["dur"]
        current[v].append(it)
        cur_len[v] += it["dur"]
        taken += it["dur"]
        if cur_len[v] >= chunk_s:
            chunks.append((v, current[v]))
            current[v], cur_len[v] = [], 0.0
    for v in names:
        if current[v]:
            chunks.append((v, current[v]))
    counters = {}
    for (v, rate), its in chunks:
        n = counters.get(v, 0)
        counters[v] = n + 1
        short = re.sub(r"^(klettres|flite|festival|piper)-", "", v)
        name = f"{prefix}-{re.sub(r'[^A-Za-z0-9_+-]', '_', short)}-{n:03d}.{PROFILE[split]['ext']}"
        rel = f"speech/{split}/{name}"
        write_audio([it["tmp"] for it in its], os.path.join(out_dir, rel))
        manifest.append(dict(path=rel, kind="speech", split=split, sample_rate_hz=rate, source=source,
                             voice=v, duration_s=round(sum(it["dur"] for it in its), 3)))


def build_speech(x, out_dir, tmp, pool, manifest, piper_python):
    # piper runs single-threaded beside the pool's espeak-ng/flite/Festival jobs
    with cf.ThreadPoolExecutor(max_workers=1) as side:
        piper = side.submit(corpus_voices.piper_items, x, tmp, rng_for, piper_python)
        all_items = asterisk_items(x) + klettres_items(x)
        all_items += corpus_text.tts_items(x, tmp, pool, rng_for, ESPEAK_DEV_VARIANTS, ESPEAK_DEV_LANGS,
                                           FLITE_TRAIN, FLITE_DEV, BUDGET_S)
        all_items += corpus_voices.festival_items(x, tmp, pool, rng_for)
        all_items += piper.result()
    for (source, split), budget in sorted(BUDGET_S.items()):
        cands = [it for it in all_items if it["source"] == source and it["split"] == split]
        if not cands:
            raise RuntimeError(f"no candidates for {source}/{split}")
        # klettres items shrink a lot when trimmed: over-select, then cut to budget
        factor = 3.0 if source == "klettres-data" else 1.3
        picked = choose(cands, budget * factor, "voice", split)
        jobs = [(it["src"], os.path.join(tmp, it["key"] + ".wav"), it["key"], it["fmt"], split) for it in picked]
        res = pool.map(prep_speech_item, jobs)
        prepared = []
        for it, r, j in zip(picked, res, jobs):
            if r is None:
                continue
            prepared.append(dict(it, dur=r[0], rate=r[1], tmp=j[1]))
        chunk_and_write(prepared, out_dir, PREFIX[source], manifest, source, split, budget)
        for it in prepared:
            os.remove(it["tmp"])
        print(f"speech {source:32s} {split:5s} {len(prepared)} items", flush=True)


def summarise(files, out_dir):
    by = {}
    for f in files:
        k = (f["kind"], f["split"], f["source"])
        d = by.setdefault(k, dict(kind=k[0], split=k[1], source=k[2], files=0, hours=0.0, bytes=0, voices=set()))
        d["files"] += 1
        d["hours"] += f["duration_s"] / 3600.0
        d["bytes"] += os.path.getsize(os.path.join(out_dir, f["path"]))
        if "voice" in f:
            d["voices"].add(f["voice"])
    rows = []
    for _, v in sorted(by.items()):
        row = dict(v, hours=round(v["hours"], 4), voices=len(v["voices"]))
        if row["kind"] == "noise":
            del row["voices"]
        rows.append(row)
    per_ks = {}
    for r in rows:
        per_ks[f"{r['kind']}/{r['split']}"] = round(per_ks.get(f"{r['kind']}/{r['split']}", 0.0) + r["hours"], 4)
    total_bytes = sum(r["bytes"] for r in rows)
    return dict(hours_by_kind_split=per_ks, by_source=rows, total_files=len(files), total_bytes=total_bytes,
                target_rms_dbfs=PROFILE["train"]["speech_rms_db"], seed=SEED,
                formats={s: dict(ext=p["ext"], speech_rms_dbfs=p["speech_rms_db"], noise_rms_dbfs=p["noise_rms_db"],
                                 peak_max_dbfs=p["peak_db"], seed=p["seed"]) for s, p in PROFILE.items()},
                vorbis_quality=VORBIS_QUALITY)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extracted", required=True, help="folder with one extracted package per subfolder")
    ap.add_argument("--out", default="data/corpus")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--piper-python", required=True, help="python of the venv with scripts/corpus/requirements-piper.txt")
    args = ap.parse_args()
    out = args.out
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    pool = Pool(args.jobs)
    manifest = []
    with tempfile.TemporaryDirectory(prefix="dfn4-corpus-") as tmp:
        build_speech(args.extracted, out, tmp, pool, manifest, args.piper_python)
        build_noise(args.extracted, out, tmp, pool, manifest)
    manifest.sort(key=lambda f: f["path"])
    for f in manifest:
        # exact length: some Vorbis decoders (lewton) return up to a block of extra samples at
        # the end, because they ignore the last page's granule position; cut to this
        f["num_samples"] = int(run(["soxi", "-s", os.path.join(out, f["path"])]).stdout.strip())
    summary = summarise(manifest, out)
    mpath = os.path.join(out, "manifest.json")
    with open(mpath, "w") as fh:
        json.dump(dict(files=manifest, summary=summary), fh, indent=1, sort_keys=False)
        fh.write("\n")
    for r in summary["by_source"]:
        print(f"{r['kind']:6s} {r['split']:5s} {r['source']:32s} files={r['files']:4d} "
              f"voices={r.get('voices', '-')!s:>4s} min={r['hours'] * 60:6.2f} MB={r['bytes'] / 1e6:6.2f}")
    for ks, h in sorted(summary["hours_by_kind_split"].items()):
        print(f"{ks}: {h * 60:.1f} min")
    total = summary["total_bytes"] + os.path.getsize(mpath)
    print(f"total: {summary['total_files']} files, {total / 1e6:.2f} MB with the manifest")
    if total > SIZE_LIMIT_BYTES:
        sys.exit(f"corpus is {total} bytes, over the {SIZE_LIMIT_BYTES} limit")


if __name__ == "__main__":
    main()
