#!/usr/bin/env python3
"""Synthetic speech for the corpus: espeak-ng (many languages and variants) and flite.

Sentences come from the translations shipped in Debian's widelands-data package
(gettext .mo catalogues in ~50 languages): real text in each voice's language.
Used by corpus_build.py (and corpus_voices.py for the sentences); standard library only.

The dev voices are made exactly as in corpus v1 (same counts, same seeds through
rng_for("dev", ...)), so the dev split stays byte-identical; only train grew in v2.
"""

import glob
import os
import re
import struct
import subprocess

# widelands locale -> espeak-ng voice
LOCALE_TO_ESPEAK = {
    "ar": "ar", "bg": "bg", "ca": "ca", "cs": "cs", "da": "da", "de": "de", "el": "el", "en_GB": "en-gb",
    "en_US": "en-us", "eo": "eo", "es": "es", "eu": "eu", "fa": "fa", "fi": "fi", "fr": "fr-fr", "ga": "ga",
    "gd": "gd", "he": "he", "hi": "hi", "hr": "hr", "hu": "hu", "id": "id", "it": "it", "ka": "ka",
    "la": "la", "lt": "lt", "ms": "ms", "nb": "nb", "nl": "nl", "pl": "pl", "pt": "pt", "pt_BR": "pt-br",
    "ro": "ro", "ru": "ru", "sk": "sk", "sl": "sl", "sr": "sr", "sv": "sv", "tr": "tr", "uk": "uk",
}
ESPEAK_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
                   "klatt3", "klatt4"]
SENTENCES_PER_VOICE = 3
ESPEAK_VOICES = {"train": 120, "dev": 8}  # v1 had 40 train voices
FLITE_SENTENCES = {"train": 36, "dev": 10}  # per voice; v1 had 10 for train too


def read_mo(path, originals=False):
    """All strings (translations, or the English originals) of a gettext .mo file."""
    with open(path, "rb") as fh:
        data = fh.read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic == 0x950412DE else ">"
    _, count, orig_off, trans_off = struct.unpack(end + "4I", data[4:20])
    table = orig_off if originals else trans_off
    out = []
    for i in range(count):
        length, off = struct.unpack(end + "2I", data[table + 8 * i:table + 8 * i + 8])
        for s in data[off:off + length].decode("utf-8", "replace").split("\0"):
            out.append(s)
    return out


def clean_sentences(strings):
    """Plain sentences of 25..150 characters, free of markup and placeholders."""
    sents = set()
    for s in strings:
        s = re.sub(r"<[^>]*>", " ", s)
        s = re.sub(r"\s+", " ", s).strip()
        for part in re.split(r"(?<=[.!?。])\s+", s):
            part = part.strip()
            if not 25 <= len(part) <= 150:
                continue
            if re.search(r"[%{}\[\]<>|\\/=_#@*&$^~\"]|\.\.\.|https?:", part):
                continue
            if not re.search(r"[.!?。]$", part):
                continue
            sents.add(part)
    return sorted(sents)


def locale_sentences(x, locale, originals=False):
    root = f"{x}/widelands-data/usr/share/games/widelands/data/locale/{locale}/LC_MESSAGES"
    strings = []
    for f in sorted(glob.glob(f"{root}/scenario_*.mo")) + sorted(glob.glob(f"{root}/texts.mo")):
        strings += read_mo(f, originals)
    return clean_sentences(strings)


def synth(cmd, dst):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0 or not os.path.exists(dst) or os.path.getsize(dst) < 2000:
        return None
    dur = subprocess.run(["soxi", "-D", dst], capture_output=True, text=True).stdout.strip()
    return float(dur) if dur else None


def tts_items(x, tmp, pool, rng_for, dev_variants, dev_langs, flite_train, flite_dev, budget):
    """Synthesise candidate utterances; return items like corpus_build's speech items."""
    out_dir = os.path.join(tmp, "tts")
    os.makedirs(out_dir, exist_ok=True)
    sentences = {loc: locale_sentences(x, loc) for loc in sorted(LOCALE_TO_ESPEAK)}
    sentences = {loc: s for loc, s in sentences.items() if len(s) >= 20}
    jobs = []
    for split, nvoices in sorted(ESPEAK_VOICES.items(), reverse=True):
        if ("espeak-ng", split) not in budget:
            continue
        locs = sorted(loc for loc in sentences if (LOCALE_TO_ESPEAK[loc] in dev_langs) == (split == "dev"))
        variants = sorted(v for v in ESPEAK_VARIANTS if (v in dev_variants) == (split == "dev"))
        rng = rng_for(split, "espeak-voices", split)
        for n in range(nvoices):
            loc = locs[n % len(locs)] if n < len(locs) else rng.choice(locs)
            var = rng.choice(variants)
            pitch = rng.randint(25, 75)
            speed = rng.randint(140, 190)
            voice = f"{LOCALE_TO_ESPEAK[loc]}+{var}-p{pitch}-s{speed}"
            sents = rng.sample(sentences[loc], SENTENCES_PER_VOICE)
            for k, text in enumerate(sents):
                key = f"esp-{split}-{n:02d}-{k}"
                dst = os.path.join(out_dir, key + ".wav")
                cmd = ["espeak-ng", "-v", f"{LOCALE_TO_ESPEAK[loc]}+{var}", "-p", str(pitch), "-s", str(speed),
                       "-w", dst, "--", text]
                jobs.append((cmd, dst, dict(key=key, src=dst, fmt=None, voice=voice, split=split,
                                            source="espeak-ng")))
    english = locale_sentences(x, "de", originals=True)
    for split, voices in (("train", flite_train), ("dev", flite_dev)):
        if ("flite", split) not in budget:
            continue
        for v in voices:
            rng = rng_for(split, "flite", v)
            for k, text in enumerate(rng.sample(english, FLITE_SENTENCES[split])):
                key = f"flite-{v}-{k:02d}"
                dst = os.path.join(out_dir, key + ".wav")
                jobs.append((["flite", "-voice", v, "-t", text, "-o", dst], dst,
                             dict(key=key, src=dst, fmt=None, voice=f"flite-{v}", split=split, source="flite")))
    durs = pool.map(synth, [(cmd, dst) for cmd, dst, _ in jobs])
    items = []
    for (_, _, it), d in zip(jobs, durs):
        if d:
            items.append(dict(it, est=d))
    return items
