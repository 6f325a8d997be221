#!/usr/bin/env python3
"""Turn one `hold_v3.sh bench` run into docs/results/trainer_gpu.json.

    python3 scripts/gpu/bench_results.py --bench OUT/bench.jsonl --bench-steps 5 [--bench OUT2/bench.jsonl
        --bench-steps 10 ...] --gpu OUT/gpu.txt --mem OUT/mem.txt --date 2026-12-06 \\
        --command "hold_v3.sh bench 32 64 128 256" > docs/results/trainer_gpu.json

Several runs of the same hold may be given; each line records which ("repeat", from 1) and its
--bench-steps.

bench.jsonl holds the trainer's `--bench-batches` lines: per (scan, batch) a "steps" line (pre-mixed
batches, data excluded) and per (name, batch) an "end_to_end" line (data included, through the trainer's
producer thread); a failed measurement is a {"note": "failed"} line and is kept as such. Names: "fast"
is the fused scan (and, end to end, the upload on the producer thread), "baseline" the tensor form (end to
end: the upload on the training thread), as the issue defines them.

Achieved TFLOP/s uses FLOPS_PER_EXAMPLE, the issue's own basis (1.4 TFLOP/s at 104 ms a step for
batch 32 x 3 s, i.e. about 4.55 GFLOP per three-second example for forward + backward); it is an estimate
of useful work, not a counter reading.
"""

import argparse
import json

FLOPS_PER_EXAMPLE_3S = 1.4e12 * 0.104 / 32


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", required=True, action="append", help="a bench.jsonl (repeatable)")
    ap.add_argument("--bench-steps", type=int, action="append", required=True,
                    help="the --bench-steps of each --bench, in the same order")
    ap.add_argument("--gpu", required=True, help="nvidia-smi name,memory.total,driver_version line")
    ap.add_argument("--mem", help="nvidia-smi memory.used samples (MiB), one per line")
    ap.add_argument("--date", required=True)
    ap.add_argument("--command", required=True)
    a = ap.parse_args()

    if len(a.bench) != len(a.bench_steps):
        ap.error("one --bench-steps per --bench")
    runs = []
    lines = [
        (repeat, steps, line.strip())
        for repeat, (path, steps) in enumerate(zip(a.bench, a.bench_steps), start=1)
        for line in open(path)
    ]
    for repeat, steps, line in lines:
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        r["repeat"], r["bench_steps"] = repeat, steps
        if isinstance(r.get("error"), str):
            # The whole allocator message with its C++ backtrace: its first sentence says it.
            r["error"] = r["error"].split("\\n")[0].split(" GPU 0 has")[0][:300]
        if r.get("measure") in ("steps", "end_to_end") and "note" not in r:
            seconds = r.get("seconds", 3.0)
            r["segment_seconds"] = seconds
            r["achieved_tflop_s_estimate"] = round(
                r["examples_per_s"] * FLOPS_PER_EXAMPLE_3S * seconds / 3.0 / 1e12, 2
            )
            for k in ("ms_per_step", "examples_per_s", "ms_per_step_uploaded", "wait_ms_median"):
                if isinstance(r.get(k), float):
                    r[k] = round(r[k], 2)
            if isinstance(r.get("phases_ms_median"), dict):
                r["phases_ms_median"] = {k: round(v, 2) for k, v in sorted(r["phases_ms_median"].items())}
        runs.append(r)

    peak = None
    if a.mem:
        vals = [int(v) for v in open(a.mem).read().split() if v.strip().isdigit()]
        peak = max(vals) if vals else None
    env = {
        "gpu": open(a.gpu).read().strip(),
        "cpu_cores": 16,
        "torch": "2.11.0+cu130 (libtorch through tch)",
        "date": a.date,
        "command": a.command,
        "corpus": "corpus v3 train shards decoded by scripts/corpus/v3/to_trainer.py",
        "gpu_memory_peak_mib": peak,
        "gpu_memory_note": "nvidia-smi sampled every 0.5 s over the whole bench (all batches and both scans)",
        "flops_per_example_3s": FLOPS_PER_EXAMPLE_3S,
    }
    print(json.dumps({"runs": runs, "environment": env}, indent=1))


if __name__ == "__main__":
    main()
