#!/usr/bin/env bash
# The lean index of a GPU day's staging calls: a device call carries the working tree (tracked files and
# untracked ones git does not ignore) beside the carried paths, 64 MiB in all, so while shards travel the
# index holds only what the GPU machine runs (the staging and hold scripts, to_trainer.py with shard.py,
# the dev sets' fingerprints) and `*` in .git/info/exclude hides everything else. `off` restores both.
#
#   scripts/gpu/lean_index.sh on [PATH...]   (extra paths join the index)
#   scripts/gpu/lean_index.sh off
#
# Nothing is committed while it is on: the index then lacks every other file (the pre-commit hook, where
# installed, refuses; `git status` shows the whole tree as deleted).
set -euo pipefail
cd "$(dirname "$0")/../.."
exclude=.git/info/exclude
case "${1:-}" in
on)
    shift
    if grep -qx '\*' "$exclude" 2>/dev/null; then
        echo "the lean index is on already" >&2
        exit 1
    fi
    git rm -r -q --cached .
    git add -f scripts/corpus/v3/stage_remote.sh scripts/corpus/v3/to_trainer.py scripts/corpus/v3/shard.py \
        scripts/gpu/hold_v3.sh scripts/gpu/lean_index.sh data/devsets.md5 "$@"
    echo '*' >>"$exclude"
    echo "lean index: $(git ls-files | wc -l) files, $(git ls-files -z | xargs -0 cat | wc -c) bytes travel"
    ;;
off)
    [ -f "$exclude" ] && sed -i '/^\*$/d' "$exclude"
    git reset -q
    echo "index restored: $(git ls-files | wc -l) files"
    ;;
*)
    echo "usage: $0 on [PATH...] | off" >&2
    exit 64
    ;;
esac
