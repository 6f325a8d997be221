#!/usr/bin/env python3
"""More synthetic voices for the corpus's train split: Festival (festvox-*) and piper (joe).

Used by corpus_build.py; standard library only (piper itself runs in its own virtual
environment through scripts/corpus/corpus_piper.py). Sentences come from widelands-data's
translations, as for espeak-ng and flite (corpus_text.py). Every voice here trains:
the dev split is frozen at corpus v1 and holds none of them.
"""

import json
import os
import subprocess

import corpus_text

# Festival voice -> (Debian package, widelands locale of its text, text encoding it reads).
# The encodings were found by trial: Czech reads ISO-8859-2, Catalan/Finnish/Italian
# Latin-1 (UTF-8 input is spelled out byte by byte), Russian UTF-8.
# Left out: festvox-{hi,mr,te}-nsk (no Hindi, Marathi or Telugu sentences in widelands,
# and they fail without festival-hi), festvox-*8k (the 16 kHz voices of the same speakers).
FESTIVAL_VOICES = {
    "kal_diphone": ("festvox-kallpc16k", "en", "ascii"),
    "ked_diphone": ("festvox-kdlpc16k", "en", "ascii"),
    "cmu_us_slt_arctic_hts": ("festvox-us-slt-hts", "en", "ascii"),
    "upc_ca_ona_hts": ("festvox-ca-ona-hts", "ca", "latin-1"),
    "czech_dita": ("festvox-czech-dita", "cs", "iso-8859-2"),
    "czech_krb": ("festvox-czech-krb", "cs", "iso-8859-2"),
    "czech_machac": ("festvox-czech-machac", "cs", "iso-8859-2"),
    "czech_ph": ("festvox-czech-ph", "cs", "iso-8859-2"),
    "hy_fi_mv_diphone": ("festvox-suopuhe-mv", "fi", "latin-1"),
    "suo_fi_lj_diphone": ("festvox-suopuhe-lj", "fi", "latin-1"),
    "lp_diphone": ("festvox-italp16k", "it", "latin-1"),
    "pc_diphone": ("festvox-itapc16k", "it", "latin-1"),
    "msu_ru_nsh_clunits": ("festvox-ru", "ru", "utf-8"),
}
FESTIVAL_SENTENCES = 24  # per voice; ~4 s each, so ~90 s of candidates
PIPER_SENTENCES = 90  # one voice; ~4 s each
PIPER_SEED = 20261123  # onnxruntime's global seed (see corpus_piper.py)


def sentences_for(x, locale):
    """Sentences in a locale; "en" means widelands' English originals."""
    if locale == "en":
        return corpus_text.locale_sentences(x, "de", originals=True)
    return corpus_text.locale_sentences(x, locale)


def festival_synth(voice, text_path, dst):
    res = subprocess.run(["text2wave", "-eval", f"({'voice_' + voice})", "-o", dst, text_path],
                         capture_output=True, text=True)
    if res.returncode != 0 or not os.path.exists(dst) or os.path.getsize(dst) < 2000:
        return None
    dur = subprocess.run(["soxi", "-D", dst], capture_output=True, text=True).stdout.strip()
    return float(dur) if dur else None


def festival_items(x, tmp, pool, rng_for):
    """Synthesise FESTIVAL_SENTENCES per Festival voice; return speech items (train)."""
    out_dir = os.path.join(tmp, "festival")
    os.makedirs(out_dir, exist_ok=True)
    by_locale = {}
    jobs = []
    for voice, (_, locale, enc) in sorted(FESTIVAL_VOICES.items()):
        if locale not in by_locale:
            by_locale[locale] = sentences_for(x, locale)
        usable = []
        for s in by_locale[locale]:
            try:
                usable.append((s, s.encode(enc)))
            except UnicodeEncodeError:
                continue  # a character the voice cannot read (quotes, other scripts)
        rng = rng_for("train", "festival", voice)
        for k, (_, raw) in enumerate(rng.sample(usable, FESTIVAL_SENTENCES)):
            key = f"fest-{voice}-{k:02d}"
            txt = os.path.join(out_dir, key + ".txt")
            with open(txt, "wb") as fh:
                fh.write(raw + b"\n")
            dst = os.path.join(out_dir, key + ".wav")
            jobs.append(((voice, txt, dst), dict(key=key, src=dst, fmt=None, voice=f"festival-{voice}",
                                                 split="train", source="festival")))
    durs = pool.map(festival_synth, [a for a, _ in jobs])
    return [dict(it, est=d) for (_, it), d in zip(jobs, durs) if d]


def piper_items(x, tmp, rng_for, piper_python):
    """Synthesise PIPER_SENTENCES English sentences with piper's joe voice (train)."""
    out_dir = os.path.join(tmp, "piper")
    os.makedirs(out_dir, exist_ok=True)
    english = sentences_for(x, "en")
    rng = rng_for("train", "piper", "joe")
    jobs, items = [], []
    for k, text in enumerate(rng.sample(english, PIPER_SENTENCES)):
        key = f"piper-joe-{k:02d}"
        dst = os.path.join(out_dir, key + ".wav")
        # speaking-rate variety: the voice has one speaker
        jobs.append(dict(text=text, dst=dst, length_scale=round(rng.uniform(0.85, 1.2), 3)))
        items.append(dict(key=key, src=dst, fmt=None, voice="piper-joe", split="train", source="piper-tts"))
    spec = os.path.join(out_dir, "jobs.json")
    with open(spec, "w", encoding="utf-8") as fh:
        json.dump(dict(seed=PIPER_SEED, jobs=jobs), fh)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus_piper.py")
    res = subprocess.run([piper_python, script, spec], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"piper failed:\n{res.stderr[-2000:]}")
    ok = {line[3:] for line in res.stdout.splitlines() if line.startswith("ok ")}
    out = []
    for it in items:
        if it["src"] in ok:
            dur = subprocess.run(["soxi", "-D", it["src"]], capture_output=True, text=True).stdout.strip()
            if dur:
                out.append(dict(it, est=float(dur)))
    return out
