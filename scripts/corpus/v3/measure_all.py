#!/usr/bin/env python3
"""Measure every candidate file of corpus v3 once; results cached as JSON lines keyed by path and md5.

    python scripts/corpus/v3/measure_all.py --x3 data/.cache/x3 --cache data/.cache/v3/measure.jsonl [--jobs 2]

Re-running measures only files that are new or changed. The order of the cache file does not matter:
inventory.py reads it into a dict.
"""

import argparse
import json
import multiprocessing as mp
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import md5_of, measure  # noqa: E402
from sources import enumerate_sources  # noqa: E402


def job(args):
    x3, rel = args
    try:
        return dict(path=rel, **measure(os.path.join(x3, rel)))
    except Exception as e:  # recorded, and the file is then dropped as undecodable
        return dict(path=rel, md5=md5_of(os.path.join(x3, rel)), error=str(e)[:200])


def load_cache(path):
    done = {}
    if os.path.exists(path):
        with open(path) as fh:
            for line in fh:
                try:
                    d = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by an interrupted run
                done[d["path"]] = d
    return done


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--x3", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    cands = enumerate_sources(a.x3)
    done = load_cache(a.cache)
    order = {"speech": 0, "rir": 1, "noise": 2, "music": 3}  # speech first: it decides the most
    todo = [c.path for c in sorted(cands, key=lambda c: (order[c.kind], c.path)) if c.path not in done]
    print(f"{len(cands)} candidates, {len(todo)} to measure", flush=True)
    os.makedirs(os.path.dirname(a.cache), exist_ok=True)
    with open(a.cache, "a") as fh, mp.Pool(a.jobs) as pool:
        for i, d in enumerate(pool.imap_unordered(job, [(a.x3, p) for p in todo], chunksize=8)):
            fh.write(json.dumps(d) + "\n")
            if i % 500 == 0:
                fh.flush()
                print(f"  {i}/{len(todo)}", flush=True)


if __name__ == "__main__":
    main()
