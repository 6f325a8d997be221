#!/usr/bin/env bash
# One GPU hold for corpus v3, run on the GPU machine step by step (each step is one device call of under
# 10 minutes; state lives in /tmp there between calls):
#
#   hold_v3.sh prepare            add the shards this call carries in .carry/stage, verify the staged
#                                 shards (upload.py plan in .carry/stage/plan.tsv),
#                                 decode them into the trainer corpus /tmp/c3 (to_trainer.py, all cores),
#                                 with corpus v2's dev split from .carry/dev2 for the built-in validation
#   hold_v3.sh devset             unpack dev v3 (devset_v3.tar, staged like a shard: upload.py plan --ext .tar)
#                                 to /tmp/devset_v3 and check it against data/devsets.md5's published
#                                 fingerprint, for the trainer's --dev-pairs /tmp/devset_v3
#   hold_v3.sh bench B...         trainer --bench-batches B... on /tmp/c3: time by phase, fused vs tensor
#                                 scan, then end to end (data included) "fast" (fused, producer upload)
#                                 vs "baseline" (tensor, upload on the training thread); GPU memory
#                                 sampled by nvidia-smi; JSON lines to $OUT/bench.jsonl
#   hold_v3.sh e2e STEPS B        end to end (data included), side by side: STEPS training steps at
#                                 batch B with the upload on the training thread (--upload main, the
#                                 earlier trainer) then on the producer thread (the default); the
#                                 trainer's own samples/s lines to $OUT/e2e.log. Throwaway checkpoints.
#   hold_v3.sh mixrate B N        the CPU mixing rate alone on 15 and 16 threads (examples/mix_rate,
#                                 carried as .carry/tch/mix_rate)
#   hold_v3.sh start MIN ARGS...  the trainer in its own session (setsid, so it outlives this call) for
#                                 MIN minutes, resuming from /tmp/ck/latest, else from the committed
#                                 models/checkpoint_v3, else models/checkpoint; ARGS go to the trainer,
#                                 with --dev-pairs /tmp/devset_v3 added when `devset` has unpacked it
#                                 Kill it with `pkill -f "dfn4-trai[n]"` (a plain pattern would match
#                                 the killing command's own shell)
#   hold_v3.sh poll SECONDS       wait up to SECONDS for the trainer (returns early when it ends), then
#                                 copy the logs, the latest checkpoint and the best export to $OUT
#
# The trainer binary travels as .carry/tch/train (cargo build --release --features train --example train).
set -uo pipefail
TORCH_LIB=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__)+"/lib")')
NV_LIB=$(python3 -c 'import nvidia,os;print(os.path.join(list(nvidia.__path__)[0],"cu13","lib"))' 2>/dev/null || true)
export LD_LIBRARY_PATH="$TORCH_LIB${NV_LIB:+:$NV_LIB}"
STAGE=${STAGE:-/tmp/dfn4-stage}
CORPUS=${CORPUS:-/tmp/c3}   # a second corpus (CORPUS=/tmp/c3b) can be prepared while a run trains on the first
CK=/tmp/ck
# libtorch warns twice per pinned batch that pin_memory's device argument is deprecated (tch always passes
# one); day 3's log grew past the 16 MiB a file may bring back, so the log leaves those lines out.
PIN_WARNING='is deprecated. Please do not pass this argument'
BIN=/tmp/dfn4-train
cmd=${1:-}; shift || true

install_bin() {
    cp .carry/tch/train "$BIN" && chmod +x "$BIN"
}

case "$cmd" in
prepare)
    t0=$(date +%s)
    # Shards carried by this very call (the last group travels with it) join the staged ones first.
    mkdir -p "$STAGE" && cp .carry/stage/*.dsh "$STAGE"/ 2>/dev/null
    bash scripts/corpus/v3/stage_remote.sh verify .carry/stage/plan.tsv || exit 1
    rm -rf "$CORPUS"
    python3 scripts/corpus/v3/to_trainer.py --shards "$STAGE" --out "$CORPUS" --dev-from .carry/dev2 --jobs 16 || exit 1
    rm -rf /tmp/dev2 && cp -r .carry/dev2 /tmp/dev2
    # to_trainer wrote absolute dev paths into this checkout's copy; point them at the copy in /tmp.
    sed -i "s#$(pwd)/.carry/dev2#/tmp/dev2#g" "$CORPUS/manifest.json"
    du -sh "$CORPUS"; echo "prepare took $(( $(date +%s) - t0 )) s"
    ;;
devset)
    want=$(awk '$1 == "data/devset_v3" {print $2}' data/devsets.md5)
    rm -rf /tmp/devset_v3 && tar -xf "$STAGE/devset_v3.tar" -C /tmp || exit 1
    got=$(cd /tmp/devset_v3 && find . -type f | sort | xargs md5sum | md5sum | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
        echo "dev v3 in /tmp/devset_v3: fingerprint $got, published $want" >&2
        exit 1
    fi
    echo "dev v3 in /tmp/devset_v3: fingerprint $got (published)"
    ;;
bench)
    install_bin
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
    (while true; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits; sleep 0.5; done) >"$OUT/mem.txt" &
    mon=$!
    PYTHONUNBUFFERED=1 "$BIN" --corpus "$CORPUS" --device cuda --threads 16 --bench-batches "$@" \
        --bench-steps "${BENCH_STEPS:-10}" --ckpt-dir /tmp/bench-ck --export-dir /tmp/bench-export 2>&1 | tee "$OUT/bench.log"
    kill $mon
    grep '^{' "$OUT/bench.log" >"$OUT/bench.jsonl"
    echo "peak GPU memory used (MiB): $(sort -n "$OUT/mem.txt" | tail -1)"
    ;;
e2e)
    steps=$1; batch=$2
    install_bin
    for upload in main producer; do
        rm -rf /tmp/e2e-ck && mkdir -p /tmp/e2e-ck
        echo "== --upload $upload, batch $batch, $steps steps" | tee -a "$OUT/e2e.log"
        PYTHONUNBUFFERED=1 "$BIN" --corpus "$CORPUS" --device cuda --threads 15 --batch "$batch" \
            --steps "$steps" --log-every 25 --val-every 100000 --ckpt-every 100000 --dev-examples "$batch" \
            --upload "$upload" --ckpt-dir /tmp/e2e-ck --export-dir /tmp/e2e-export 2>&1 |
            grep -E '^(step|device|scan|data)' | tee -a "$OUT/e2e.log"
    done
    ;;
mixrate)
    cp .carry/tch/mix_rate /tmp/mix_rate && chmod +x /tmp/mix_rate
    for t in 15 16; do
        RAYON_NUM_THREADS=$t /tmp/mix_rate "$CORPUS" "$1" "$2" 3.0 | tee -a "$OUT/mixrate.log"
    done
    ;;
start)
    minutes=$1; shift
    install_bin
    mkdir -p "$CK"
    # Resume from the newest committed state: the corpus v3 chain when it exists, else the shipped run.
    if [ ! -f "$CK/latest/state.json" ]; then
        mkdir -p "$CK/latest"
        if [ -f models/checkpoint_v3/state.json ]; then
            cp models/checkpoint_v3/{model,optim_m,optim_v}.safetensors models/checkpoint_v3/state.json "$CK/latest/"
        else
            cp models/checkpoint/optim_m.safetensors models/checkpoint/optim_v.safetensors \
               models/checkpoint/state.json "$CK/latest/"
            cp models/dfn4.safetensors "$CK/latest/model.safetensors"
        fi
        chmod -R u+w "$CK"
    fi
    # Dev v3, once `devset` has unpacked and checked it, is what the run keeps its best weights by.
    pairs=""
    if [ -d /tmp/devset_v3/noisy ] && ! printf '%s\n' "$@" | grep -qx -- --dev-pairs; then
        pairs="--dev-pairs /tmp/devset_v3"
    fi
    setsid bash -c "PYTHONUNBUFFERED=1 '$BIN' --corpus '$CORPUS' --ckpt-dir '$CK' --export-dir /tmp/export \
        --device cuda --auto-resume --compact-ckpt --max-minutes '$minutes' --threads 15 $pairs $* 2>&1 \
        | grep --line-buffered -v \"$PIN_WARNING\" >>/tmp/train.log; echo \"exit \${PIPESTATUS[0]}\" >>/tmp/train.log" \
        </dev/null >/dev/null 2>&1 &
    sleep 45
    tail -n 20 /tmp/train.log
    ;;
poll)
    secs=$1
    end=$(( $(date +%s) + secs ))
    while [ "$(date +%s)" -lt "$end" ] && ! tail -n 1 /tmp/train.log | grep -q '^exit '; do sleep 5; done
    grep -E '^(step|validation|dev pairs|checkpoint|exported|wall|exit|scan|corpus|resumed|data)' /tmp/train.log | tail -n 40
    # Eight files at most come back: the log, the JSON log, the latest checkpoint (4) and the best
    # export by validation (2).
    mkdir -p "$OUT/ck" "$OUT/best"
    cp /tmp/train.log "$OUT/"
    [ -d "$CK/latest" ] && cp "$CK/latest/"* "$OUT/ck/" 2>/dev/null
    cp "$CK/train_log.jsonl" "$OUT/" 2>/dev/null
    [ -d "$CK/best" ] && cp "$CK/best/"* "$OUT/best/" 2>/dev/null
    ls -la "$OUT" "$OUT/ck" "$OUT/best"
    ;;
*)
    echo "usage: $0 prepare | bench B... | e2e STEPS B | mixrate B N | start MINUTES ARGS... | poll SECONDS" >&2
    exit 64
    ;;
esac
