#!/usr/bin/env bash
# A GPU day's preparation on this machine, before the first device call (docs/training.md, "A GPU day on
# corpus v3"); on a fresh machine everything, on a kept one only what is missing or stale:
#   1. corpus v3 (scripts/corpus/v3/build.sh) unless its shards are in $CORPUS_CACHE/v3/shards, and dev v3
#      checked against its published fingerprint (data/devsets.md5)
#   2. the trainer and mix_rate binaries (feature `train`, against scripts/torch_env.sh's libtorch)
#      -> .carry/tch/{train,mix_rate,REV}
#   3. corpus v2's dev split as a trainer corpus -> .carry/dev2 (the trainer's built-in validation)
#   4. with the lean index on (scripts/gpu/lean_index.sh, which this turns on): the staging plans of the
#      shards ($CORPUS_CACHE/v3/pieces/plan.tsv) and of dev v3 as one tar in pieces
#      ($CORPUS_CACHE/v3/devtar-pieces/plan.tsv), each piece as large as a call can carry beside the tree
# Prints the time of each step. Leaves the lean index on: turn it off (`lean_index.sh off`) to commit.
# Env: JOBS (build.sh's worker processes, default 2), CORPUS_CACHE (default data/.cache).
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${CORPUS_CACHE:-data/.cache}"
t0=$(date +%s)
step() { echo "== $(($(date +%s) - t0)) s: $*"; }
# The checks below read the full index; the lean one goes back on at the end.
if grep -qx '\*' .git/info/exclude 2>/dev/null; then scripts/gpu/lean_index.sh off; fi

step "corpus v3"
if ! compgen -G "$cache/v3/shards/*.dsh" >/dev/null; then
    JOBS="${JOBS:-2}" CORPUS_CACHE="$cache" scripts/corpus/v3/build.sh
fi
want=$(awk '$1 == "data/devset_v3" {print $2}' data/devsets.md5)
got=$(cd data/devset_v3 && find . -type f | sort | xargs md5sum | md5sum | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
    echo "dev v3 here: fingerprint $got, published $want: a curve across days would not compare" >&2
    exit 1
fi
echo "dev v3: fingerprint $got (published)"

step "trainer binaries"
rev=$(git rev-parse --short HEAD)
. scripts/torch_env.sh
cargo build --release --features train --example train --example mix_rate
mkdir -p .carry/tch
cp target/release/examples/train target/release/examples/mix_rate .carry/tch/
git diff --quiet HEAD -- src examples Cargo.toml Cargo.lock || rev="$rev+uncommitted"
echo "$rev" >.carry/tch/REV
echo "trainer built from $rev: pass --git-rev $rev to the run"

step "corpus v2's dev split -> .carry/dev2"
[ -f data/corpus/manifest.json ] || JOBS="${JOBS:-2}" scripts/corpus/build_corpus.sh
python3 - <<'PY'
import json, os, shutil
src, out = "data/corpus", ".carry/dev2"
files = [f for f in json.load(open(os.path.join(src, "manifest.json")))["files"] if f.get("split") == "dev"]
shutil.rmtree(out, ignore_errors=True)
for f in files:
    os.makedirs(os.path.dirname(os.path.join(out, f["path"])), exist_ok=True)
    shutil.copy2(os.path.join(src, f["path"]), os.path.join(out, f["path"]))
with open(os.path.join(out, "manifest.json"), "w") as fh:
    json.dump({"files": files}, fh)
print(f"{len(files)} dev files")
PY

step "staging plans (lean index on)"
scripts/gpu/lean_index.sh on
python3 scripts/corpus/v3/upload.py plan --shards "$cache/v3/shards" --out "$cache/v3/pieces"
mkdir -p "$cache/v3/devtar"
tar --sort=name --mtime=2026-12-05 --owner=0 --group=0 -cf "$cache/v3/devtar/devset_v3.tar" -C data devset_v3
python3 scripts/corpus/v3/upload.py plan --shards "$cache/v3/devtar" --ext .tar --out "$cache/v3/devtar-pieces"
du -sh "$cache/v3/shards" "$cache/v3/devtar" .carry/tch .carry/dev2
step "done: the device calls are \`upload.py calls --plan $cache/v3/pieces/plan.tsv --layout .carry/c\` (pieces laid out now, one folder a call), then the dev tar's (--layout .carry/d)"
