#!/usr/bin/env python3
"""Totals of data/manifest.tsv and data/manifest_dropped.tsv as Markdown tables (for data/README.md).

    python scripts/corpus/v3/summary.py [--manifest data/manifest.tsv] [--dropped data/manifest_dropped.tsv]
"""

import argparse
import csv
from collections import defaultdict


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def f(x):
    try:
        return float(x)
    except ValueError:
        return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", default="data/manifest.tsv")
    ap.add_argument("--dropped", default="data/manifest_dropped.tsv")
    a = ap.parse_args()
    rows = read(a.manifest)
    agg = defaultdict(lambda: [0, 0.0, 0.0, set(), set()])
    for r in rows:
        k = (r["kind"], r["origin"], r["split"], r["source"])
        g = agg[k]
        g[0] += 1
        g[1] += f(r["seconds"])
        g[2] += f(r["active_s"])
        if r["speaker"]:
            g[3].add(r["speaker"])
        if r["language"]:
            g[4].add(r["language"])
    print("| kind | origin | split | source | files | hours | active hours | speakers | languages |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for k in sorted(agg):
        g = agg[k]
        print(f"| {' | '.join(k)} | {g[0]} | {g[1] / 3600:.2f} | {g[2] / 3600:.2f} | {len(g[3]) or ''} | "
              f"{len(g[4]) or ''} |")
    print()
    # the criteria
    def sel(pred):
        return [r for r in rows if pred(r)]

    sp = sel(lambda r: r["kind"] == "speech" and r["origin"] == "recorded" and r["split"] == "train"
             and int(f(r["rate_hz"])) >= 22050)
    print(f"- recorded speech, train, >= 22.05 kHz: {sum(f(r['seconds']) for r in sp) / 3600:.2f} h "
          f"({sum(f(r['active_s']) for r in sp) / 3600:.2f} h active), {len({r['speaker'] for r in sp})} speaker "
          f"labels, {len({r['language'] for r in sp})} languages ({', '.join(sorted({r['language'] for r in sp}))})")
    for split in ("train", "dev"):
        nz = sel(lambda r: r["kind"] == "noise" and r["origin"] == "recorded" and r["split"] == split)
        mu = sel(lambda r: r["kind"] == "music" and r["split"] == split)
        print(f"- {split}: recorded non-music noise {sum(f(r['seconds']) for r in nz) / 3600:.2f} h "
              f"({sum(f(r['active_s']) for r in nz) / 3600:.2f} h active, {len(nz)} files); "
              f"music {sum(f(r['seconds']) for r in mu) / 3600:.2f} h ({len(mu)} files)")
    cats = defaultdict(float)
    for r in sel(lambda r: r["kind"] == "noise"):
        cats[(r["split"], r["category"])] += f(r["seconds"])
    print("- noise by category (h): " + ", ".join(f"{s}/{c} {v / 3600:.2f}" for (s, c), v in sorted(cats.items())))
    rirs = sel(lambda r: r["kind"] == "rir")
    print(f"- rooms: {sum(r['origin'] == 'simulated' for r in rirs)} simulated, "
          f"{sum(r['origin'] == 'recorded' for r in rirs)} measured")
    bw = sorted(f(r["bandwidth_hz"]) for r in sp)
    if bw:
        q = lambda p: bw[min(len(bw) - 1, int(p * len(bw)))]  # noqa: E731
        share = lambda t: sum(f(r["seconds"]) for r in sp if f(r["bandwidth_hz"]) >= t) / max(  # noqa: E731
            1e-9, sum(f(r["seconds"]) for r in sp))
        print(f"- train speech bandwidth (clips): p10 {q(0.1):.0f} Hz, median {q(0.5):.0f} Hz, p90 {q(0.9):.0f} Hz; "
              f"share of time >= 8 kHz {share(8000):.2f}, >= 12 kHz {share(12000):.2f}, >= 16 kHz {share(16000):.2f}")
    print()
    dropped = read(a.dropped)
    dg = defaultdict(lambda: [0, 0.0])
    for d in dropped:
        reason = d["reason"].split(":")[0]
        reason = "duplicate (same file bytes)" if reason.startswith("duplicate of") else reason
        g = dg[(d["kind"], d["source"], reason)]
        g[0] += 1
        g[1] += f(d["seconds"])
    print("| kind | source | filter | files | minutes |")
    print("| --- | --- | --- | ---: | ---: |")
    for k in sorted(dg):
        print(f"| {' | '.join(k)} | {dg[k][0]} | {dg[k][1] / 60:.1f} |")


if __name__ == "__main__":
    main()
