#!/usr/bin/env bash
# Compare the dev sets on this machine with their published fingerprints (data/devsets.md5), so that scores
# from different machines and days compare like with like. Exit 1 on a mismatch or a missing set.
# Usage: scripts/eval/check_devsets.sh [DIR...]   (default: every set listed)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
status=0
while read -r dir want; do
    case "$dir" in ''|'#'*) continue ;; esac
    if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$dir"; then continue; fi
    if [ ! -d "$dir" ]; then
        echo "$dir: missing" >&2; status=1; continue
    fi
    got=$(cd "$dir" && find . -type f | sort | xargs md5sum | md5sum | cut -d' ' -f1)
    if [ "$got" = "$want" ]; then
        echo "$dir: fingerprint $got (published)"
    else
        echo "$dir: fingerprint $got, published $want: scores would not compare with earlier ones" >&2
        status=1
    fi
done < data/devsets.md5
exit $status
