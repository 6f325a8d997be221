#!/usr/bin/env python3
"""Enhance a corpus of WAV files with dfn4 on Ray Data: a pool of actors, one dfn4 backend each.

    python examples/ray_enhance.py INPUT OUTDIR [--workers N] [--backend NAME] [--atten-lim-db DB]

INPUT is a directory (every *.wav below it) or a manifest: a text file with one WAV path per line
(relative paths are taken from the manifest's directory; empty lines and lines starting with # are
skipped). Each output keeps the input's path relative to its root (a manifest's entries outside its
directory keep their file name), rate, channels, length and sample format.

Every file becomes one row of a Ray Dataset; `map_batches` sends the rows to `--workers` actors
(`EnhanceActor`, `--cpus-per-worker` CPUs each), `--files-per-task` files per call (default 1; 4 lowers
Ray's per-task overhead on long corpora). Each actor loads the dfn4 backend once and enhances its
files with `dfn4.enhance_file` (streamed in one-second blocks: memory stays constant whatever the file's
length). A file that cannot be read or enhanced is reported in the summary and never stops the run.

GPU actors: `--gpus-per-worker 1 --backend tch-cuda` asks Ray for a GPU per actor; it needs a dfn4 build
whose backends include a CUDA one (`dfn4.backends()` lists them; the default wheel has CPU backends only).

The summary (printed, and written to OUTDIR/summary.json): files, enhanced, failed (with the error of
each), hours of audio, wall time, real-time factor (wall time / audio duration) and speed (audio
duration / wall time), the same from the first file's start to the last file's end (without the
start-up of Ray and of the actors), and per file: `processing_s` and the error if any.

On a running Ray cluster, pass `--address auto` (or submit with `ray job submit`, see docs/python.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import ray


def list_inputs(source: Path) -> list[tuple[Path, Path]]:
    """(input path, path relative to the output directory) of every file to enhance."""
    if source.is_dir():
        return [(p, p.relative_to(source)) for p in sorted(source.rglob("*.wav")) if p.is_file()]
    root = source.parent
    pairs = []
    for line in source.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(line) if Path(line).is_absolute() else root / line
        try:
            rel = path.resolve().relative_to(root.resolve())
        except ValueError:
            rel = Path(path.name)
        pairs.append((path, rel))
    return pairs


class EnhanceActor:
    """One Ray actor: a dfn4 backend loaded once, then one file per row."""

    def __init__(
        self, backend: str | None, atten_lim_db: float | None, threads: int, overwrite: bool = False
    ):
        # dfn4's thread pool (channels of a file in parallel) is sized once, at first use.
        os.environ.setdefault("RAYON_NUM_THREADS", str(max(1, threads)))
        import dfn4

        self.dfn4 = dfn4
        self.backend = backend
        self.atten_lim_db = atten_lim_db
        self.overwrite = overwrite
        # Builds the backend now (shared by every later call of this process) and checks the settings.
        self.warm = dfn4.Denoiser(48000, backend=backend, atten_lim_db=atten_lim_db)

    def __call__(self, batch: dict) -> dict:
        keys = ("path", "out", "ok", "error", "audio_s", "processing_s", "started", "ended")
        out = {k: [] for k in keys}
        for src, dst in zip(batch["path"], batch["out"]):
            ok, error, audio_s, processing_s = False, "", 0.0, 0.0
            started, start = time.time(), time.perf_counter()
            try:
                Path(dst).parent.mkdir(parents=True, exist_ok=True)
                report = self.dfn4.enhance_file(
                    src,
                    dst,
                    backend=self.backend,
                    atten_lim_db=self.atten_lim_db,
                    overwrite=self.overwrite,
                )
                ok, audio_s = True, float(report["audio_s"])
            except Exception as e:  # a bad file is reported, never fatal
                error = f"{type(e).__name__}: {e}"
            processing_s = time.perf_counter() - start
            values = (src, dst, ok, error, audio_s, processing_s, started, time.time())
            for key, value in zip(keys, values):
                out[key].append(value)
        return out


def run(
    source: Path,
    outdir: Path,
    *,
    workers: int = 2,
    cpus_per_worker: float = 1,
    gpus_per_worker: float = 0,
    backend: str | None = None,
    atten_lim_db: float | None = None,
    overwrite: bool = False,
    files_per_task: int = 1,
) -> dict:
    """Enhances every file of `source` into `outdir` on the current Ray cluster; returns the summary."""
    pairs = list_inputs(source)
    outdir.mkdir(parents=True, exist_ok=True)
    items = [{"path": str(p), "out": str(outdir / rel)} for p, rel in pairs]
    start = time.perf_counter()
    rows: list[dict] = []
    if items:
        # Progress bars off: on a small machine the driver's refreshing competes with the actors.
        ray.data.DataContext.get_current().enable_progress_bars = False
        ds = ray.data.from_items(items, override_num_blocks=-(-len(items) // files_per_task))
        ds = ds.map_batches(
            EnhanceActor,
            fn_constructor_kwargs={
                "backend": backend,
                "atten_lim_db": atten_lim_db,
                "overwrite": overwrite,
                "threads": int(max(1, cpus_per_worker)),
            },
            batch_size=files_per_task,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker,
        )
        rows = [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in ds.iter_rows()
        ]
    wall_s = time.perf_counter() - start
    done = {r["path"] for r in rows}
    failures = [{"path": r["path"], "error": r["error"]} for r in rows if not r["ok"]]
    # A row Ray never returned would be a lost file: report it as a failure too.
    failures += [{"path": i["path"], "error": "no result"} for i in items if i["path"] not in done]
    audio_s = sum(r["audio_s"] for r in rows if r["ok"])
    files_wall_s = max(r["ended"] for r in rows) - min(r["started"] for r in rows) if rows else 0.0
    summary = {
        "files": len(items),
        "enhanced": sum(1 for r in rows if r["ok"]),
        "failed": len(failures),
        "failures": sorted(failures, key=lambda f: f["path"]),
        "audio_hours": audio_s / 3600,
        "wall_s": wall_s,
        # From the first file's start to the last file's end: the wall time without the cluster's and
        # the actors' start-up.
        "files_wall_s": files_wall_s,
        "real_time_factor": wall_s / audio_s if audio_s else None,
        "speed_x_real_time": audio_s / wall_s if wall_s and audio_s else None,
        "files_speed_x_real_time": audio_s / files_wall_s if files_wall_s and audio_s else None,
        "workers": workers,
        # None: each actor's machine's default (dfn4.DEFAULT_BACKEND, which follows its CPU).
        "backend": backend,
        "per_file": sorted(
            (
                {k: r[k] for k in ("path", "out", "ok", "error", "audio_s", "processing_s")}
                for r in rows
            ),
            key=lambda r: r["path"],
        ),
    }
    (outdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", type=Path, help="directory of WAV files, or a manifest (one path a line)")
    ap.add_argument("outdir", type=Path, help="output directory (created); summary.json goes there")
    ap.add_argument("--workers", type=int, default=2, help="actors in the pool (default 2)")
    ap.add_argument("--cpus-per-worker", type=float, default=1)
    ap.add_argument("--gpus-per-worker", type=float, default=0)
    ap.add_argument("--files-per-task", type=int, default=1, help="files in one actor call")
    ap.add_argument(
        "--backend",
        default=None,
        help="dfn4 backend (default: each worker machine's dfn4.DEFAULT_BACKEND, which follows its CPU)",
    )
    ap.add_argument("--atten-lim-db", type=float, default=None)
    ap.add_argument(
        "--overwrite", action="store_true", help="replace outputs that exist (refused otherwise)"
    )
    ap.add_argument("--address", default=None, help='Ray cluster ("auto": the running one)')
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local cluster")
    args = ap.parse_args(argv)
    if args.address:
        ray.init(address=args.address)
    else:
        ray.init(num_cpus=args.num_cpus)
    summary = run(
        args.input,
        args.outdir,
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
        backend=args.backend,
        atten_lim_db=args.atten_lim_db,
        overwrite=args.overwrite,
        files_per_task=args.files_per_task,
    )
    print(json.dumps({k: v for k, v in summary.items() if k != "per_file"}, indent=2))
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
