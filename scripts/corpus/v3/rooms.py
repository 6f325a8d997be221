#!/usr/bin/env python3
"""Simulated room responses for corpus v3 (image-source method, pyroomacoustics 0.10.1), and the
training-target rule that keeps the direct path and early reflections.

    python scripts/corpus/v3/rooms.py --out data/.cache/v3/rir --count 1100 [--jobs 1]

Room i is drawn from numpy's PCG64 seeded with (SEED, i), so every room is reproducible on its own and
a longer run only adds rooms. Shoebox rooms 2.5-12 x 2.5-10 x 2.3-4.5 m; wall absorption from Sabine's
formula for a drawn target (pyroomacoustics.inverse_sabine), full image-source order; microphone and
source at least 0.5 m from every wall, 0.3-4 m apart (the distance drawn first, uniform), both
0.8-2.0 m high. The reverberation time of each response is then measured (Schroeder backward
integration, pyroomacoustics.experimental.measure_rt60): rooms measured outside 0.1-1.2 s are skipped
(with the index), so every kept room is in range. Responses are written as 48 kHz float32 WAV, cut where
they have decayed by 60 dB (at most 1.5 s), peak-normalised, direct path at its natural delay.
rooms.tsv beside them lists: file, index, dims, absorption, distance, measured RT60, direct-path sample.

early_target(rir, direct_idx, sr) is the training target rule (as DeepFilterNet): keep the response up
to EARLY_MS after the direct path, then fade it out over FADE_MS; convolve the clean speech with that
for the target and with the whole response for the noisy input.
"""

import argparse
import math
import multiprocessing as mp
import os

import numpy as np

SEED = 20261214
RATE_HZ = 48000
EARLY_MS = 50.0
FADE_MS = 5.0
RT60_RANGE_S = (0.1, 1.2)


def early_target(rir, direct_idx, sr=RATE_HZ):
    """The response a training target is convolved with: direct path + first EARLY_MS, then a half-cosine fade."""
    keep = direct_idx + int(round(EARLY_MS * 1e-3 * sr))
    fade = int(round(FADE_MS * 1e-3 * sr))
    w = np.zeros(len(rir))
    w[: min(keep, len(rir))] = 1.0
    end = min(keep + fade, len(rir))
    if end > keep:
        w[keep:end] = 0.5 * (1 + np.cos(np.pi * np.arange(end - keep) / fade))
    return rir * w


def draw(i):
    """Room parameters for index i (deterministic)."""
    rng = np.random.default_rng([SEED, i])
    dims = np.array([rng.uniform(2.5, 12.0), rng.uniform(2.5, 10.0), rng.uniform(2.3, 4.5)])
    # Sabine's target; image-source responses of shoeboxes decay slower than Sabine predicts, so the
    # target range sits under the wanted one and the measured value decides (see the module doc).
    rt60_target = rng.uniform(0.08, 0.95)
    dist = rng.uniform(0.3, 4.0)
    for _ in range(1000):
        mic = np.array([rng.uniform(0.5, dims[0] - 0.5), rng.uniform(0.5, dims[1] - 0.5), rng.uniform(0.8, 2.0)])
        az = rng.uniform(0, 2 * np.pi)
        dz = rng.uniform(-0.6, 0.6)
        dz = float(np.clip(dz, -0.95 * dist, 0.95 * dist))
        r = math.sqrt(dist * dist - dz * dz)
        src = mic + np.array([r * math.cos(az), r * math.sin(az), dz])
        if np.all(src[:2] >= 0.5) and np.all(src[:2] <= dims[:2] - 0.5) and 0.8 <= src[2] <= 2.0:
            return dims, rt60_target, dist, mic, src
    return None


def simulate(i):
    import pyroomacoustics as pra

    p = draw(i)
    if p is None:
        return dict(index=i, skip="no placement")
    dims, rt60_target, dist, mic, src = p
    try:
        absorption, max_order = pra.inverse_sabine(rt60_target, dims)
    except ValueError:
        return dict(index=i, skip="target unreachable for this room")
    room = pra.ShoeBox(dims, fs=RATE_HZ, materials=pra.Material(absorption), max_order=max_order)
    room.add_source(src)
    room.add_microphone(mic)
    room.compute_rir()
    h = np.asarray(room.rir[0][0], dtype=np.float64)
    rt60 = float(pra.experimental.measure_rt60(h, fs=RATE_HZ))
    if not (RT60_RANGE_S[0] <= rt60 <= RT60_RANGE_S[1]):
        return dict(index=i, skip=f"measured RT60 {rt60:.3f} s out of range")
    # cut where the backward-integrated energy is 60 dB down, at most 1.5 s
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-30)
    end = int(np.searchsorted(-edc_db, 60.0)) + 1
    h = h[: min(max(end, 1), int(1.5 * RATE_HZ))]
    direct = int(np.argmax(np.abs(h)))
    h = h / np.max(np.abs(h))
    return dict(index=i, rir=h.astype(np.float32), dims=dims, absorption=float(absorption), dist=dist,
                rt60=rt60, rt60_target=rt60_target, direct=direct, max_order=int(max_order))


def main():
    import soundfile as sf

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=1100, help="rooms to keep")
    ap.add_argument("--jobs", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows, skipped = [], []
    i = 0
    with mp.Pool(a.jobs) as pool:
        while len(rows) < a.count:
            batch = list(range(i, i + max(8, a.jobs * 4)))
            i += len(batch)
            for r in pool.map(simulate, batch):  # in index order: the kept set does not depend on --jobs
                if len(rows) >= a.count:
                    break
                if "skip" in r:
                    skipped.append(r)
                    continue
                name = f"room{r['index']:05d}.wav"
                path = os.path.join(a.out, name)
                if not os.path.exists(path):
                    sf.write(path, r["rir"], RATE_HZ, subtype="FLOAT")
                d = r["dims"]
                rows.append(f"{name}\t{r['index']}\t{d[0]:.3f}x{d[1]:.3f}x{d[2]:.3f}\t{r['absorption']:.4f}\t"
                            f"{r['max_order']}\t{r['dist']:.3f}\t{r['rt60_target']:.3f}\t{r['rt60']:.3f}\t"
                            f"{r['direct']}\t{len(r['rir'])}")
                if len(rows) % 50 == 0:
                    print(f"  {len(rows)} rooms (index {r['index']})", flush=True)
    with open(os.path.join(a.out, "rooms.tsv"), "w") as fh:
        fh.write("file\tindex\tdims_m\tabsorption\tmax_order\tdistance_m\trt60_sabine_target_s\trt60_measured_s\t"
                 "direct_sample\tsamples\n")
        fh.write("\n".join(rows) + "\n")
    with open(os.path.join(a.out, "skipped.tsv"), "w") as fh:
        fh.write("index\treason\n")
        for s in skipped:
            fh.write(f"{s['index']}\t{s['skip']}\n")
    print(f"{len(rows)} rooms kept, {len(skipped)} skipped (indices 0..{i - 1})")


if __name__ == "__main__":
    main()
