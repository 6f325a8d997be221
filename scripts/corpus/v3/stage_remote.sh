#!/usr/bin/env bash
# GPU-machine side of the staged shard upload (scripts/corpus/v3/upload.py drives it, one call per piece).
#
#   stage_remote.sh append PIECE TARGET INDEX OFFSET PIECE_SHA256
#       check PIECE's sha256, cut $STAGE/TARGET to OFFSET bytes (so a retried call after a broken one
#       appends at the right place), append PIECE, record INDEX in $STAGE/TARGET.pieces.
#   stage_remote.sh verify PLAN
#       for every target of PLAN (upload.py's plan.tsv): size and sha256 of $STAGE/TARGET; prints one line
#       per target and "verified N/M"; exit 1 unless all match.
#   stage_remote.sh status
#       what $STAGE holds (targets, sizes, pieces appended).
#
# $STAGE defaults to /tmp/dfn4-stage: the GPU machine's /tmp lives only while that machine stays up.
set -euo pipefail
STAGE="${STAGE:-/tmp/dfn4-stage}"
mkdir -p "$STAGE"
cmd="${1:-status}"
case "$cmd" in
append)
    piece="$2"; target="$3"; index="$4"; offset="$5"; want="$6"
    got=$(sha256sum "$piece" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
        echo "piece $index of $target: sha256 $got, expected $want" >&2
        exit 2
    fi
    out="$STAGE/$target"
    touch "$out"
    have=$(stat -c %s "$out")
    if [ "$have" -lt "$offset" ]; then
        echo "$target holds $have bytes, piece $index starts at $offset: an earlier piece is missing" >&2
        exit 3
    fi
    truncate -s "$offset" "$out"
    cat "$piece" >>"$out"
    echo "$index" >>"$out.pieces"
    echo "appended piece $index to $target: $(stat -c %s "$out") bytes"
    ;;
verify)
    plan="$2"
    ok=0; n=0
    # plan.tsv: piece  target  index  offset  piece_bytes  piece_sha256  target_bytes  target_sha256
    while IFS=$'\t' read -r _ target _ _ _ _ tbytes tsha; do
        n=$((n + 1))
        f="$STAGE/$target"
        if [ -f "$f" ] && [ "$(stat -c %s "$f")" = "$tbytes" ] && [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$tsha" ]; then
            ok=$((ok + 1)); echo "ok   $target"
        else
            echo "BAD  $target ($( [ -f "$f" ] && stat -c %s "$f" || echo missing) bytes, want $tbytes)"
        fi
    done < <(tail -n +2 "$plan" | awk -F'\t' '!seen[$2]++')
    echo "verified $ok/$n"
    [ "$ok" = "$n" ]
    ;;
status)
    ls -la "$STAGE"
    ;;
*)
    echo "usage: $0 append|verify|status ..." >&2
    exit 64
    ;;
esac
