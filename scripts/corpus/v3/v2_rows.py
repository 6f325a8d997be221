#!/usr/bin/env python3
"""Manifest rows for corpus v2's sources that v3 keeps as they are (asterisk prompts and the synthetic voices).

    python scripts/corpus/v3/v2_rows.py --v2 data/corpus --out data/.cache/v3/v2_rows.tsv

Reads data/corpus/manifest.json (scripts/corpus/build_corpus.sh; its dev split is corpus v1's, byte-identical)
and measures every file it lists with measure.py. v2's klettres and noise files are left out here: they
are cut from the same package files that v3 lists raw (x3/...), and would count twice.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import measure  # noqa: E402

SKIP_SOURCES = {"klettres-data"}  # raw files in v3
FESTIVAL_LANG = {"cmu_us_slt_arctic_hts": "en", "kal_diphone": "en", "ked_diphone": "en", "czech_dita": "cs",
                 "czech_krb": "cs", "czech_machac": "cs", "czech_ph": "cs", "hy_fi_mv_diphone": "fi",
                 "suo_fi_lj_diphone": "fi", "lp_diphone": "it", "pc_diphone": "it", "msu_ru_nsh_clunits": "ru",
                 "upc_ca_ona_hts": "ca"}
COLUMNS = ["path", "source", "kind", "origin", "speaker", "language", "seconds", "active_s", "rate_hz",
           "bandwidth_hz", "rolloff995_hz", "split", "category", "flags", "md5"]


def language(source, voice):
    if source.startswith("asterisk-core-sounds-"):
        return source.split("-")[3]
    if source == "espeak-ng":
        return voice.split("+")[0]
    if source == "festival":
        name = voice.split("-", 1)[1]
        return FESTIVAL_LANG.get(name, "ca" if "ona" in name else "")
    return "en"  # flite, piper


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--v2", default="data/corpus")
    ap.add_argument("--out", default="data/.cache/v3/v2_rows.tsv")
    a = ap.parse_args()
    files = json.load(open(os.path.join(a.v2, "manifest.json")))["files"]
    rows = []
    for f in sorted(files, key=lambda f: f["path"]):
        if f["kind"] != "speech" or f["source"] in SKIP_SOURCES:
            continue
        m = measure(os.path.join(a.v2, f["path"]))
        synthetic = not f["source"].startswith("asterisk")
        flags = ["v2", "dev-v1" if f["split"] == "dev" else "v2-train"]
        if m["rate_hz"] < 22050:
            flags.append("rate<22050")
        rows.append(dict(path="v2/" + f["path"], source=f["source"], kind="speech",
                         origin="synthetic" if synthetic else "recorded", speaker=f.get("voice", ""),
                         language=language(f["source"], f.get("voice", "")), seconds=m["seconds"],
                         active_s=m["active_s"], rate_hz=m["rate_hz"], bandwidth_hz=m["bandwidth_hz"],
                         rolloff995_hz=m["rolloff995_hz"], split=f["split"], category="", flags=",".join(flags),
                         md5=m["md5"]))
    with open(a.out, "w") as fh:
        fh.write("\t".join(COLUMNS) + "\n")
        for r in rows:
            fh.write("\t".join(str(r[c]) for c in COLUMNS) + "\n")
    print(f"{len(rows)} v2 rows -> {a.out}")


if __name__ == "__main__":
    main()
