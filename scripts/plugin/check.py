#!/usr/bin/env python3
"""Checks of the LADSPA plugin that need no numpy (used by .ci/plugin.sh).

  check.py latency SO LABEL RATE_HZ          print the "latency" output port after activate (ctypes host)
  check.py compare PLUGIN_OUT REF LATENCY    max |plugin[n + latency] - ref[n]| over the reference
  check.py noise NOISY OUT CLEAN LATENCY     energy (dB) of noise-only 10 ms frames before and after

WAV files are read as raw 32-bit float through sox (any sample format in).
"""
import ctypes as C
import math
import subprocess
import sys
from array import array


def read_f32(path):
    raw = subprocess.run(["sox", path, "-t", "f32", "-c", "1", "-"], check=True, capture_output=True).stdout
    return array("f", raw)


def rate_of(path):
    return int(float(subprocess.run(["soxi", "-r", path], check=True, capture_output=True, text=True).stdout))


class Descriptor(C.Structure):
    _fields_ = [
        ("unique_id", C.c_ulong),
        ("label", C.c_char_p),
        ("properties", C.c_int),
        ("name", C.c_char_p),
        ("maker", C.c_char_p),
        ("copyright", C.c_char_p),
        ("port_count", C.c_ulong),
        ("port_descriptors", C.POINTER(C.c_int)),
        ("port_names", C.POINTER(C.c_char_p)),
        ("port_range_hints", C.c_void_p),
        ("implementation_data", C.c_void_p),
        ("instantiate", C.CFUNCTYPE(C.c_void_p, C.c_void_p, C.c_ulong)),
        ("connect_port", C.CFUNCTYPE(None, C.c_void_p, C.c_ulong, C.POINTER(C.c_float))),
        ("activate", C.CFUNCTYPE(None, C.c_void_p)),
        ("run", C.CFUNCTYPE(None, C.c_void_p, C.c_ulong)),
        ("run_adding", C.c_void_p),
        ("set_run_adding_gain", C.c_void_p),
        ("deactivate", C.c_void_p),
        ("cleanup", C.CFUNCTYPE(None, C.c_void_p)),
    ]


def latency(so, label, rate_hz):
    lib = C.CDLL(so)
    lib.ladspa_descriptor.restype = C.POINTER(Descriptor)
    lib.ladspa_descriptor.argtypes = [C.c_ulong]
    i = 0
    while True:
        d = lib.ladspa_descriptor(i)
        if not d:
            sys.exit(f"no plugin {label} in {so}")
        if d.contents.label.decode() == label:
            break
        i += 1
    d = d.contents
    handle = d.instantiate(C.cast(C.pointer(d), C.c_void_p), rate_hz)
    if not handle:
        sys.exit(f"instantiate failed at {rate_hz} Hz")
    values = [C.c_float(0.0) for _ in range(d.port_count)]
    port = None
    for p in range(d.port_count):
        d.connect_port(handle, p, C.pointer(values[p]))
        if d.port_names[p].decode() == "latency":
            port = p
    d.activate(handle)
    # LADSPA: output port values are meaningful only after run (the plugin writes its latency there).
    d.run(handle, 0)
    print(int(values[port].value))
    d.cleanup(handle)


def compare(out_path, ref_path, lat):
    out, ref = read_f32(out_path), read_f32(ref_path)
    # Hosts that add no tail (lv2file) give the input's length: compare what there is.
    n_cmp = min(len(ref), len(out) - lat - 1)
    if n_cmp < 0.9 * len(ref):
        sys.exit(f"plugin output too short: {len(out)} samples for {len(ref)} + {lat}")
    err = max(abs(out[n + lat] - ref[n]) for n in range(n_cmp))
    # Just as a cross-check of the latency: the error one sample off.
    off = max(abs(out[n + lat + 1] - ref[n]) for n in range(n_cmp))
    print(f"max |plugin[n + {lat}] - enhance[n]| over {n_cmp} samples = {err:.3g} (one sample later: {off:.3g})")
    return err


def noise_only_db(x, clean, frame):
    e, n = 0.0, 0
    for start in range(0, min(len(x), len(clean)) - frame + 1, frame):
        ce = sum(s * s for s in clean[start:start + frame]) / frame
        if ce < 1e-6:
            e += sum(s * s for s in x[start:start + frame])
            n += frame
    if n == 0:
        sys.exit("no noise-only frames")
    return 10 * math.log10(e / n)


def main():
    cmd = sys.argv[1]
    if cmd == "latency":
        latency(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "compare":
        err = compare(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        tol = float(sys.argv[5]) if len(sys.argv) > 5 else 1e-4
        if not err <= tol:
            sys.exit(f"FAIL: {err:.3g} > {tol}")
    elif cmd == "noise":
        noisy, out, clean = read_f32(sys.argv[2]), read_f32(sys.argv[3]), read_f32(sys.argv[4])
        lat = int(sys.argv[5])
        frame = rate_of(sys.argv[2]) // 100
        before = noise_only_db(noisy, clean, frame)
        after = noise_only_db(out[lat:], clean, frame)
        print(f"noise-only frames: {before:.1f} dB in, {after:.1f} dB out")
        if not after < before - 10:
            sys.exit("FAIL: less than 10 dB quieter")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
