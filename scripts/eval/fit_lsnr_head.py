#!/usr/bin/env python3
"""Refits the LSNR head (`dec.lsnr_fc`) of a DfNet4 model on its frozen embedding, training mixtures only.

    python scripts/eval/fit_lsnr_head.py --model models/dfn4.safetensors --data A.f32 [B.f32 ...] \
        [--ridge R] [--balance] [--out NEW.safetensors]

The rows come from `examples/lsnr_probe.rs` (`[target_db, example, embedding[d]]`, the trainer's LSNR
target of frame t and the embedding at hop t + lookahead). The head keeps its shape, so the engines run it
unchanged: lsnr_db = sigmoid(w·x + b)·50 − 15. It minimises the mean squared error in dB (plus
`ridge`·|w|²) by Levenberg–Marquardt, starting from a least-squares fit in the logit domain. Every fifth
example of each file (index % 5 == 4) is held out and scored, not fitted; `--balance` weights the frames
so that each band of target LSNR (the bands of examples/lsnr_error.rs) counts alike.

Prints JSON: RMS and mean error (dB) of the shipped and the refitted head on the fitted and held-out frames,
overall and per band. With `--out`, writes a copy of the model in which only the bytes of
dec.lsnr_fc.weight and dec.lsnr_fc.bias differ. Needs numpy.
"""

import argparse
import json
import struct
import sys

import numpy as np

LSNR_MIN_DB, LSNR_MAX_DB = -15.0, 35.0
SPAN_DB = LSNR_MAX_DB - LSNR_MIN_DB
BANDS = [("at the floor", -np.inf, LSNR_MIN_DB + 1e-6), ("-15..0", LSNR_MIN_DB + 1e-6, 0.0),
         ("0..10", 0.0, 10.0), ("10..20", 10.0, 20.0), ("20..35", 20.0, LSNR_MAX_DB - 1e-6),
         ("at the ceiling", LSNR_MAX_DB - 1e-6, np.inf)]
HEAD = ("dec.lsnr_fc.weight", "dec.lsnr_fc.bias")
CHUNK = 65536


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    return raw, 8 + n, header


def head_of(path):
    raw, base, header = read_safetensors(path)
    out = []
    for name in HEAD:
        e = header[name]
        if e["dtype"] != "F32":
            sys.exit(f"{name}: expected F32, found {e['dtype']}")
        a, b = e["data_offsets"]
        out.append(np.frombuffer(raw[base + a:base + b], dtype="<f4").astype(np.float64))
    return out[0].reshape(-1), float(out[1][0])


def write_head(src, dst, w, b):
    raw, base, header = read_safetensors(src)
    buf = bytearray(raw)
    for name, values in zip(HEAD, (np.asarray(w, "<f4"), np.asarray([b], "<f4"))):
        a, e = header[name]["data_offsets"]
        data = values.tobytes()
        assert len(data) == e - a, name
        buf[base + a:base + e] = data
    open(dst, "wb").write(bytes(buf))


def load(paths, width):
    ys, xs, held = [], [], []
    for p in paths:
        m = np.fromfile(p, dtype="<f4")
        if m.size % width:
            sys.exit(f"{p}: {m.size} values is not a whole number of {width}-wide rows")
        m = m.reshape(-1, width)
        ys.append(m[:, 0].astype(np.float64))
        held.append(m[:, 1].astype(np.int64) % 5 == 4)
        xs.append(m[:, 2:])
    return np.concatenate(ys), np.concatenate(xs), np.concatenate(held)


def predict(x, w, b):
    out = np.empty(len(x))
    for i in range(0, len(x), CHUNK):
        z = x[i:i + CHUNK].astype(np.float64) @ w + b
        out[i:i + CHUNK] = SPAN_DB / (1 + np.exp(-z)) + LSNR_MIN_DB
    return out


def band_weights(y, balance):
    if not balance:
        return np.ones_like(y)
    wts = np.zeros_like(y)
    for _, lo, hi in BANDS:
        m = (y > lo) & (y <= hi)
        if m.any():
            wts[m] = len(y) / (len(BANDS) * m.sum())
    return wts


def logit_init(x, y, wts, ridge):
    """Weighted ridge least squares of logit((y − min)/span) on [x, 1] (targets kept off the clamps)."""
    t = np.clip((y - LSNR_MIN_DB) / SPAN_DB, 0.02, 0.98)
    z = np.log(t / (1 - t))
    d = x.shape[1]
    h, g = np.zeros((d + 1, d + 1)), np.zeros(d + 1)
    for i in range(0, len(x), CHUNK):
        xa = np.hstack([x[i:i + CHUNK].astype(np.float64), np.ones((len(x[i:i + CHUNK]), 1))])
        wa = wts[i:i + CHUNK]
        h += xa.T @ (xa * wa[:, None])
        g += xa.T @ (z[i:i + CHUNK] * wa)
    reg = np.eye(d + 1) * ridge * wts.sum()
    reg[d, d] = 0
    theta = np.linalg.solve(h + reg, g)
    return theta[:d], theta[d]


def objective(x, y, wts, w, b, ridge):
    r = predict(x, w, b) - y
    return float(np.sum(wts * r * r) / wts.sum() + ridge * w @ w)


def levenberg_marquardt(x, y, wts, w, b, ridge, iters):
    d = x.shape[1]
    theta = np.concatenate([w, [b]])
    lam, loss = 1e-3, objective(x, y, wts, w, b, ridge)
    n = wts.sum()
    for _ in range(iters):
        h, g = np.zeros((d + 1, d + 1)), np.zeros(d + 1)
        for i in range(0, len(x), CHUNK):
            xa = np.hstack([x[i:i + CHUNK].astype(np.float64), np.ones((len(x[i:i + CHUNK]), 1))])
            s = 1 / (1 + np.exp(-(xa @ theta)))
            r = SPAN_DB * s + LSNR_MIN_DB - y[i:i + CHUNK]
            j = xa * (SPAN_DB * s * (1 - s))[:, None]
            wa = wts[i:i + CHUNK]
            h += j.T @ (j * wa[:, None])
            g += j.T @ (r * wa)
        h, g = h / n, g / n
        reg = np.full(d + 1, ridge)
        reg[d] = 0
        g += reg * theta
        while True:
            a = h + np.diag(reg) + lam * np.diag(np.diag(h) + 1e-12)
            step = np.linalg.solve(a, -g)
            cand = theta + step
            new = objective(x, y, wts, cand[:d], cand[d], ridge)
            if new < loss:
                theta, lam = cand, max(lam / 3, 1e-9)
                done = loss - new < 1e-6 * loss
                loss = new
                break
            lam *= 4
            if lam > 1e8:
                done = True
                break
        if done:
            break
    return theta[:d], theta[d]


def report(pred, y):
    err = pred - y
    out = {"frames": int(len(y)), "rms_db": float(np.sqrt(np.mean(err ** 2))), "bias_db": float(np.mean(err))}
    for name, lo, hi in BANDS:
        m = (y > lo) & (y <= hi)
        if m.any():
            out[name] = {"frames": int(m.sum()), "rms_db": float(np.sqrt(np.mean(err[m] ** 2))),
                         "bias_db": float(np.mean(err[m]))}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--ridge", type=float, default=1e-4)
    ap.add_argument("--balance", action="store_true")
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--out")
    a = ap.parse_args()
    w0, b0 = head_of(a.model)
    y, x, held = load(a.data, len(w0) + 2)
    fit = ~held
    wts = band_weights(y[fit], a.balance)
    wi, bi = logit_init(x[fit], y[fit], wts, a.ridge)
    w, b = levenberg_marquardt(x[fit], y[fit], wts, wi, bi, a.ridge, a.iters)
    result = {"data": a.data, "ridge": a.ridge, "balance": a.balance}
    for name, (hw, hb) in {"shipped": (w0, b0), "refitted": (w, b)}.items():
        result[name] = {"fitted": report(predict(x[fit], hw, hb), y[fit]),
                        "held_out": report(predict(x[held], hw, hb), y[held])}
    if a.out:
        write_head(a.model, a.out, w, b)
        result["out"] = a.out
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
