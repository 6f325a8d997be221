#!/usr/bin/env python3
"""Staged upload of the training shards to the GPU machine, piece by piece, with checksums.

What reaches the GPU machine travels with each device call: the working tree (tracked files and untracked
files git does not ignore) plus the carried paths, at most 64 MiB in all. So each piece is at most
64 MiB minus what the working tree already takes (measured here with git, less a margin), it travels in
.carry/stage/ (git-ignored), and stage_remote.sh appends it to /tmp/dfn4-stage/<shard> there after checking
its sha256; a last call verifies every shard's size and sha256 (and may run `shard.py check`).

    python scripts/corpus/v3/upload.py plan  --shards data/.cache/v3/shards --out data/.cache/v3/pieces
    python scripts/corpus/v3/upload.py calls --plan data/.cache/v3/pieces/plan.tsv      # the device calls, as JSON
    python scripts/corpus/v3/upload.py simulate --plan data/.cache/v3/pieces/plan.tsv   # the same, here, in temp dirs

`calls` prints one JSON object per device call: {"before": shell command to run HERE first (puts the piece
into .carry/stage), "command": what to run THERE, "carry": [".carry/stage"]}; the session that holds the
device tool runs them in order (a failed call can be repeated: the remote side cuts the shard back to the
piece's offset before appending). `calls --layout .carry/c` instead lays every piece out before the first
call, one folder per call (.carry/c/NN/piece: a hard link where the piece is a whole shard, else a copy of
its bytes), and prints calls with an empty "before" that carry their own folder, so nothing runs here
between two device calls (the way 2026-12-06's fifth GPU day staged). `simulate [--layout DIR]` runs the same
sequence with a temp folder as the remote checkout and another as its /tmp, and reports the bytes moved and
the time taken.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

LIMIT = 64 * 2**20
MARGIN = 2 * 2**20  # room for files that change between planning and calling (logs, the plan itself)
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def sha256(path, start=0, size=None):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        fh.seek(start)
        left = os.path.getsize(path) - start if size is None else size
        while left > 0:
            b = fh.read(min(left, 1 << 20))
            if not b:
                break
            h.update(b)
            left -= len(b)
    return h.hexdigest()


def travelling_bytes():
    """Bytes the working tree takes in a device call (tracked + untracked-not-ignored files)."""
    out = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout.split(b"\0")
    total = 0
    for p in out:
        if p:
            fp = os.path.join(REPO, p.decode())
            if os.path.isfile(fp) and not os.path.islink(fp):
                total += os.path.getsize(fp)
    return total


def plan(a):
    tree = travelling_bytes()
    piece = (LIMIT - tree - MARGIN) if a.piece_mib is None else int(a.piece_mib * 2**20)
    piece = min(piece, LIMIT - tree - MARGIN)
    if piece < 2**20:
        sys.exit(f"the working tree already takes {tree / 2**20:.1f} MiB: no room for pieces")
    os.makedirs(a.out, exist_ok=True)
    shards = sorted(f for f in os.listdir(a.shards) if f.endswith(a.ext))
    rows = []
    for s in shards:
        path = os.path.join(a.shards, s)
        size = os.path.getsize(path)
        whole = sha256(path)
        for i, off in enumerate(range(0, size, piece)):
            n = min(piece, size - off)
            rows.append([f"{s}.{i:03d}", s, str(i), str(off), str(n), sha256(path, off, n), str(size), whole])
    with open(os.path.join(a.out, "plan.tsv"), "w") as fh:
        fh.write("piece\ttarget\tindex\toffset\tpiece_bytes\tpiece_sha256\ttarget_bytes\ttarget_sha256\n")
        for r in rows:
            fh.write("\t".join(r) + "\n")
    with open(os.path.join(a.out, "source.txt"), "w") as fh:
        fh.write(os.path.abspath(a.shards) + "\n")
    total = sum(int(r[4]) for r in rows)
    print(f"{len(shards)} shards, {total / 2**20:.1f} MiB in {len(rows)} pieces of <= {piece / 2**20:.1f} MiB "
          f"(working tree {tree / 2**20:.1f} MiB + margin {MARGIN / 2**20:.0f} MiB travel with each)")


def read_plan(path):
    with open(path) as fh:
        head = fh.readline().rstrip("\n").split("\t")
        return [dict(zip(head, line.rstrip("\n").split("\t"))) for line in fh]


def calls(plan_path, layout=None):
    rows = read_plan(plan_path)
    src = open(os.path.join(os.path.dirname(plan_path), "source.txt")).read().strip()
    out = []
    if layout is not None:
        shutil.rmtree(os.path.join(REPO, layout), ignore_errors=True)
    for k, r in enumerate(rows):
        if layout is None:
            folder = ".carry/stage"
            before = (f"rm -rf .carry/stage && mkdir -p .carry/stage && "
                      f"dd if={src}/{r['target']} of=.carry/stage/piece bs=1M iflag=skip_bytes,count_bytes "
                      f"skip={r['offset']} count={r['piece_bytes']} status=none")
        else:
            folder = os.path.join(layout, f"{k:02d}")
            lay_out_piece(os.path.join(src, r["target"]), r, os.path.join(REPO, folder, "piece"))
            before = ""
        cmd = (f"bash scripts/corpus/v3/stage_remote.sh append {folder}/piece {r['target']} {r['index']} "
               f"{r['offset']} {r['piece_sha256']}")
        out.append(dict(before=before, command=cmd, carry=[folder]))
    if layout is None:
        folder = ".carry/stage"
        before = f"rm -rf .carry/stage && mkdir -p .carry/stage && cp {plan_path} .carry/stage/plan.tsv"
    else:
        folder = os.path.join(layout, "verify")
        os.makedirs(os.path.join(REPO, folder))
        shutil.copyfile(plan_path, os.path.join(REPO, folder, "plan.tsv"))
        before = ""
    out.append(dict(before=before,
                    command=f"bash scripts/corpus/v3/stage_remote.sh verify {folder}/plan.tsv && "
                            f"python3 scripts/corpus/v3/shard.py check /tmp/dfn4-stage/*.dsh",
                    carry=[folder]))
    return out


def lay_out_piece(target_path, row, piece_path):
    """Puts one piece at piece_path: a hard link to the shard when the piece is all of it (no bytes copied),
    else the piece's bytes."""
    os.makedirs(os.path.dirname(piece_path), exist_ok=True)
    offset, size = int(row["offset"]), int(row["piece_bytes"])
    if offset == 0 and size == int(row["target_bytes"]):
        try:
            os.link(target_path, piece_path)
            return
        except OSError:
            pass  # another file system: copy instead
    with open(target_path, "rb") as src, open(piece_path, "wb") as dst:
        src.seek(offset)
        left = size
        while left:
            chunk = src.read(min(left, 2**24))
            if not chunk:
                raise SystemExit(f"{target_path}: shorter than the plan says")
            dst.write(chunk)
            left -= len(chunk)


def simulate(a):
    """Run the calls with a temp dir as the remote checkout (scripts + .carry/stage copied in each time) and
    another as the remote /tmp/dfn4-stage."""
    seq = calls(a.plan, a.layout)
    remote_tmp = tempfile.mkdtemp(prefix="dfn4-remote-tmp-")
    moved = 0
    t0 = time.time()
    try:
        for k, c in enumerate(seq):
            if c["before"]:
                subprocess.run(c["before"], shell=True, check=True, cwd=REPO)
            remote = tempfile.mkdtemp(prefix="dfn4-remote-checkout-")
            try:
                shutil.copytree(os.path.join(REPO, "scripts"), os.path.join(remote, "scripts"))
                for folder in c["carry"]:
                    shutil.copytree(os.path.join(REPO, folder), os.path.join(remote, folder))
                moved += sum(os.path.getsize(os.path.join(dp, f))
                             for dp, _, fs in os.walk(os.path.join(remote, ".carry")) for f in fs)
                cmd = c["command"].replace("/tmp/dfn4-stage", os.path.join(remote_tmp, "dfn4-stage"))
                env = dict(os.environ, STAGE=os.path.join(remote_tmp, "dfn4-stage"))
                if a.break_at is not None and k == a.break_at:
                    # a broken call: half the piece arrives, the call fails; then the call is repeated
                    piece = os.path.join(remote, c["carry"][0], "piece")
                    target = c["command"].split()[4]
                    off = int(c["command"].split()[6])
                    os.makedirs(env["STAGE"], exist_ok=True)
                    with open(os.path.join(env["STAGE"], target), "r+b" if os.path.exists(
                            os.path.join(env["STAGE"], target)) else "wb") as fh:
                        fh.seek(off)
                        fh.write(open(piece, "rb").read()[: os.path.getsize(piece) // 2])
                    print(f"call {k}: simulated break after half the piece; repeating the call")
                res = subprocess.run(cmd, shell=True, cwd=remote, env=env, capture_output=True, text=True,
                                     executable="/bin/bash")
                print(f"call {k}: rc {res.returncode}: {(res.stdout + res.stderr).strip().splitlines()[-1]}")
                if res.returncode != 0:
                    print(res.stdout + res.stderr)
                    sys.exit(1)
            finally:
                shutil.rmtree(remote)
    finally:
        shutil.rmtree(os.path.join(REPO, ".carry", "stage"), ignore_errors=True)
        if a.layout:
            shutil.rmtree(os.path.join(REPO, a.layout), ignore_errors=True)
        shutil.rmtree(remote_tmp)
    print(f"simulated {len(seq)} calls, {moved / 2**20:.1f} MiB carried, {time.time() - t0:.1f} s here")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("--shards", default="data/.cache/v3/shards")
    p.add_argument("--ext", default=".dsh", help="the files of --shards to plan (.tar: dev v3 for --dev-pairs)")
    p.add_argument("--out", default="data/.cache/v3/pieces")
    p.add_argument("--piece-mib", type=float, default=None, help="default: as large as the limit allows")
    c = sub.add_parser("calls")
    c.add_argument("--plan", default="data/.cache/v3/pieces/plan.tsv")
    c.add_argument("--layout", default=None, help="lay every piece out here first (e.g. .carry/c), one folder a call")
    s = sub.add_parser("simulate")
    s.add_argument("--plan", default="data/.cache/v3/pieces/plan.tsv")
    s.add_argument("--layout", default=None, help="as for calls (removed afterwards)")
    s.add_argument("--break-at", type=int, default=None, help="simulate a broken call at this index")
    a = ap.parse_args()
    if a.cmd == "plan":
        plan(a)
    elif a.cmd == "calls":
        for c in calls(a.plan, a.layout):
            print(json.dumps(c))
    else:
        simulate(a)


if __name__ == "__main__":
    main()
