#!/usr/bin/env python3
"""Which files of the unpacked packages corpus v3 uses, and what each one is.

enumerate_sources(x3) walks $CORPUS_CACHE/x3 (made by fetch.sh) in sorted order and yields one Candidate per
audio file: package, kind (speech | noise | music | rir), speaker and language for speech, a category hint for
noise, and `drop` (a reason) for files left out by name (processed voices, words in noise packages...).
The rules are path rules only; measured filters are in inventory.py.
"""

import os
import re
from dataclasses import dataclass

AUDIO_EXT = (".ogg", ".oga", ".wav", ".flac", ".opus", ".mp3")


@dataclass
class Candidate:
    path: str  # relative to x3, starting with the package folder
    source: str
    kind: str
    speaker: str = ""
    language: str = ""
    hint: str = ""  # noise: ambience | effect ; speech: what the items are
    drop: str = ""  # non-empty: left out by name, with the reason


# tuxpaint: language suffixes of `*_desc_LL.ogg` and `symbols/math/N_LL.ogg` (no suffix = English)
TUX_LANG = {"": "en", "zh_tw": "zh", "zh_cn": "zh", "pt_br": "pt", "nn": "no", "nb": "no"}
# hedgewars voice packs: language from the pack name (the accent packs speak English)
HEDGEWARS_LANG = {"Default_es": "es", "Default_pl": "pl", "Default_ru": "ru", "Default_uk": "uk",
                  "Russian": "ru", "Russian_pl": "pl"}
HEDGEWARS_PROCESSED = {"Robot", "Singer"}  # pitch-shifted / vocoded packs: not speech targets
ZEROAD_LANG = {"latin": "la", "greek": "grc", "persian": "peo", "napatan": "mero", "celtic": "cel",
               "hellenic": "grc", "iberian": "xib", "mauryan": "pra", "punic": "xpu"}
# corpus v1/v2 dev speakers and noise files: dev in v3 as well (held out by whole speaker / file)
KLETTRES_DEV = {"he", "it", "nl"}
V1_DEV_NOISE = [
    "megaglest-data/usr/share/games/megaglest/tilesets/autumn/sounds/rain",
    "megaglest-data/usr/share/games/megaglest/tilesets/winter/sounds/wind",
    "megaglest-data/usr/share/games/megaglest/tilesets/winter_forest/sounds/wind",
    "megaglest-data/usr/share/games/megaglest/tilesets/mediterran/sounds/night",
    "widelands-data/usr/share/games/widelands/data/sound/animals/bird3_00",
    "widelands-data/usr/share/games/widelands/data/sound/animals/frog",
    "widelands-data/usr/share/games/widelands/data/sound/animals/wolf_01",
    "widelands-data/usr/share/games/widelands/data/sound/hammering/hammering_01",
    "widelands-data/usr/share/games/widelands/data/sound/smiths/sharpening",
    "widelands-data/usr/share/games/widelands/data/sound/woodcutting/fast_woodcutting_02",
    "widelands-data/usr/share/games/widelands/data/sound/barbarians/taverns/tavern_01",
    "widelands-data/usr/share/games/widelands/data/sound/sawmill/sawmill_01",
    "widelands-data/usr/share/games/widelands/data/sound/farm/scythe_00",
    "widelands-data/usr/share/games/widelands/data/sound/mill/mill_turning_01",
    "oxygen-sounds/usr/share/sounds/Oxygen-Im-Phone-Ring",
    "oxygen-sounds/usr/share/sounds/Oxygen-Sys-App-Error",
    "oxygen-sounds/usr/share/sounds/Oxygen-Window-Move",
    "sound-theme-freedesktop/usr/share/sounds/freedesktop/stereo/phone-incoming-call",
    "sound-theme-freedesktop/usr/share/sounds/freedesktop/stereo/camera-shutter",
    "sound-theme-freedesktop/usr/share/sounds/freedesktop/stereo/bell",
]


def v1_dev_noise(path):
    stem = os.path.splitext(path)[0]
    return any(stem == p or stem.startswith(p + "/") for p in V1_DEV_NOISE)


def classify(rel):
    """Candidate for one file (rel = path under x3), or None when the file is not used at all."""
    pkg = rel.split("/", 1)[0]
    name = os.path.basename(rel)
    stem, ext = os.path.splitext(name)
    low = rel.lower()
    C = lambda kind, **kw: Candidate(rel, pkg, kind, **kw)  # noqa: E731

    if pkg == "tuxpaint-stamps-default":
        m = re.match(r"^.*_desc(?:_([A-Za-z_]+))?$", stem)
        if m:
            lang = (m.group(1) or "").lower()
            lang = TUX_LANG.get(lang, lang.split("_")[0])
            return C("speech", speaker=f"tuxpaint:{lang}", language=lang, hint="stamp description")
        m = re.match(r"^\d+_([A-Za-z_]+)$", stem)
        if "/symbols/math/" in rel and m:
            lang = TUX_LANG.get(m.group(1).lower(), m.group(1).lower().split("_")[0])
            return C("speech", speaker=f"tuxpaint:{lang}", language=lang, hint="digit")
        if "/symbols/alphabets/" in rel:
            lang = "de" if "/german/" in rel else "en"
            return C("speech", speaker=f"tuxpaint:{lang}", language=lang, hint="letter")
        return C("noise", hint="effect")
    if pkg.startswith("fillets-ng-data-"):
        lang = pkg.rsplit("-", 1)[1]
        level = rel.split("/sound/", 1)[1].split("/", 1)[0]
        parts = stem.split("-")
        if "hurt" in parts:
            return C("speech", drop="non-speech vocalisation (hurt)")
        if len(parts) >= 3 and parts[1] in ("m", "v"):
            spk = f"fillets-{lang}:{parts[1]}"  # the two fish: the same two actors in every level
        elif len(parts) >= 3:
            spk = f"fillets-{lang}:{level}-{parts[1]}"  # other characters: one label per level and role
        else:
            spk = f"fillets-{lang}:{level}-other"
        return C("speech", speaker=spk, language=lang, hint="game dialogue")
    if pkg == "hedgewars-data":
        if "/Data/Sounds/voices/" in rel:
            pack = rel.split("/voices/", 1)[1].split("/", 1)[0]
            c = C("speech", speaker=f"hedgewars:{pack}", language=HEDGEWARS_LANG.get(pack, "en"),
                  hint="exclamation")
            if pack in HEDGEWARS_PROCESSED:
                c.drop = f"processed voice ({pack} pack)"
            return c
        if "/Data/Music/" in rel:
            return C("music")
        if "/Data/Sounds/" in rel:
            return C("noise", hint="effect")
        return None
    if pkg == "gcin-voice":
        return C("speech", speaker="gcin", language="zh", hint="syllable")
    if pkg == "kajongg":
        if "/voices/" not in rel:
            return None
        sub = rel.split("/voices/", 1)[1]
        lang = "de" if sub.startswith("de/") else "en"
        who = sub.split("/")[1] if lang == "de" else sub.split("/")[0]
        return C("speech", speaker=f"kajongg:{lang}-{who}", language=lang, hint="call-out")
    if pkg == "klettres-data":
        m = re.search(r"/klettres/([^/]+)/(alpha|syllab)/", rel)
        if not m:
            return None
        lang = m.group(1).split("_")[0].lower()
        return C("speech", speaker=f"klettres:{m.group(1)}", language=lang, hint="letter/syllable")
    if pkg == "0ad-data":
        a = rel.split("/public-zip/audio/", 1)
        if len(a) < 2:
            return None
        sub = a[1]
        top = sub.split("/", 1)[0]
        if top == "voice":
            civ = sub.split("/")[1]
            if civ == "global":
                return C("noise", hint="effect")  # animals (dog barks...)
            gender = "female" if "female" in stem else ("male" if "male" in stem else "other")
            return C("speech", speaker=f"0ad:{civ}-{gender}", language=ZEROAD_LANG.get(civ, civ),
                     hint="unit voice")
        if top == "music":
            return C("music")
        if top == "ambient":
            return C("noise", hint="ambience")
        if top in ("attack", "actor", "resource", "interface"):
            return C("noise", hint="effect")
        return None
    if pkg == "redeclipse-data":
        sub = rel.split("/data/sounds/", 1)
        if len(sub) < 2:
            return None
        top = sub[1].split("/", 1)[0]
        if top in ("voice", "announcer", "player"):
            return C("noise", drop=f"speaks or vocalises ({top})")
        if top == "music" or name.startswith(("theme", "original")):
            return None  # redeclipse music is not among the listed music sources
        return C("noise", hint="ambience" if top == "ambience" else "effect")
    if pkg == "supertuxkart-data":
        if "/data/music/" in rel:
            return C("music")
        if "/data/sfx/" in rel:
            return C("noise", hint="effect")
        if "/data/tracks/" in rel:
            if "speech" in stem:
                return C("noise", drop="speaks (cutscene speech)")
            if stem in ("Gran_Paradiso_Unused_-_TuxKart_5a_Gowns_Bow_Remix", "Battle_Theme_1", "hot",
                        "beneath_the_rabbit_hole", "intro2"):
                return C("music")
            return C("noise", hint="effect")
        return None
    if pkg == "torcs-data":
        return C("noise", hint="effect") if "/data/sound/" in rel else None
    if pkg == "hydrogen-drumkits":
        return C("noise", hint="effect")  # single drum hits: impulsive, not music
    if pkg == "scorched3d-data":
        return C("noise", hint="effect")
    if pkg == "supersonic-scsynth-samples":
        if ext != ".flac":
            return None
        if stem.startswith(("mehackit_robot", "glitch_robot", "tbd_voctone", "bass_voxy", "ambi_choir")):
            return C("noise", drop="voice-like synthesis")
        if stem.startswith(("loop_", "ambi_piano", "tbd_pad", "tbd_highkey", "arovane_beat", "guit_", "bass_")):
            return C("music")
        return C("noise", hint="ambience" if stem.startswith(("ambi_", "vinyl_")) else "effect")
    if pkg == "megaglest-data":
        if "/tilesets/" in rel and "/sounds/" in rel:
            return C("noise", hint="ambience")
        if "/techs/" in rel and re.search(r"(^|_)(hit|walk|build|mine|fall|knife|harvest|anvil|wood|firearrowhit|"
                                          r"bee|fly|sheep|chop|hammer|prod)(_|\d|$)", stem):
            return C("noise", hint="effect")  # unit sounds without voices (not ack/select/attack/die)
        return None  # the rest of techs/: many unit sounds are spoken acknowledgements or cries
    if pkg == "widelands-data":
        if "/data/sound/" not in rel or "/music/" in rel:
            return None
        if re.match(r"^(lobby|message|under_attack|site_occupied)", stem):
            return C("noise", drop="speaks or signals words")
        return C("noise", hint="effect")
    if pkg == "oxygen-sounds":
        return C("noise", hint="effect")
    if pkg == "sound-theme-freedesktop":
        if stem.startswith("audio-channel-") or stem.startswith("audio-test"):
            return C("noise", drop="speaks (channel names)")
        return C("noise", hint="effect")
    if pkg in ("warzone2100-music", "wesnoth-1.16-music"):
        return C("music")
    if pkg == "colobot-common-sounds":
        if "/music/" in rel:
            return C("music")
        return C("noise", hint="effect") if "/sounds/" in rel else None
    if pkg == "freedroidrpg-data":
        if "/sound/music/" in rel:
            return C("music")
        if "/sound/effects/" in rel:
            if re.search(r"voice_samples|tux_ingame_comments|Scream|ThouArtDefeated", rel):
                return C("noise", drop="speaks or screams")
            return C("noise", hint="effect")
        return None
    if pkg == "guitarix-common":
        return C("rir") if name == "greathall.wav" else None
    if pkg == "jconvolver-config-files":
        return C("rir") if "/demo-reverbs/" in rel else None
    if pkg == "rakarrack":
        return C("rir") if name == "9.wav" else None
    return None


def enumerate_sources(x3):
    """Candidates for every audio file under x3, sorted by path (symbolic links skipped)."""
    out = []
    for root, dirs, files in os.walk(x3):
        dirs.sort()
        for f in sorted(files):
            if not f.lower().endswith(AUDIO_EXT):
                continue
            full = os.path.join(root, f)
            if os.path.islink(full):
                continue
            rel = os.path.relpath(full, x3)
            c = classify(rel)
            if c is not None:
                out.append(c)
    out.sort(key=lambda c: c.path)
    return out


if __name__ == "__main__":
    import collections
    import sys

    cands = enumerate_sources(sys.argv[1])
    cnt = collections.Counter((c.source, c.kind, bool(c.drop)) for c in cands)
    for k in sorted(cnt):
        print(*k, cnt[k], sep="\t")
    spk = collections.Counter(c.speaker for c in cands if c.kind == "speech" and not c.drop)
    print(len(spk), "speaker labels;", len({c.language for c in cands if c.kind == "speech"}), "languages")
