"""examples/ray_enhance.py on a local Ray cluster (2 CPUs): 20 generated files, 4 of them corrupt.

Skipped where Ray is not installed (the CI installs it: .ci/python.sh).
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import dfn4
from wavio import noisy_speech, read_f32, write_f32

ray = pytest.importorskip("ray")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ray_enhance.py"


def load_example():
    spec = importlib.util.spec_from_file_location("ray_enhance", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_corpus(root: Path):
    good = {}
    for i in range(16):
        rate = (48000, 16000, 44100, 24000)[i % 4]
        channels = 2 if i % 5 == 0 else 1
        x = np.stack([noisy_speech(0.5 + 0.25 * (i % 4), rate, seed=10 * i + c) for c in range(channels)])
        path = root / ("sub" if i % 2 else "") / f"good{i:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_f32(path, x, rate)
        good[path] = (x, rate)
    bad = [root / f"bad{i}.wav" for i in range(4)]
    bad[0].write_bytes(b"")
    bad[1].write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    bad[2].write_bytes(np.random.default_rng(0).bytes(5000))
    write_f32(bad[3], noisy_speech(1.0, 48000), 48000)
    bad[3].write_bytes(bad[3].read_bytes()[:40])  # header cut inside the fmt chunk
    return good, bad


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_enhance_directory_and_manifest(tmp_path, cluster):
    example = load_example()
    good, bad = make_corpus(tmp_path / "in")
    assert len(good) + len(bad) == 20
    summary = example.run(tmp_path / "in", tmp_path / "out", workers=2)
    assert summary["files"] == 20
    assert summary["enhanced"] == 16 and summary["failed"] == 4
    failed = {Path(f["path"]) for f in summary["failures"]}
    assert failed == set(bad)
    assert all(f["error"].startswith(("ValueError", "OSError")) for f in summary["failures"])
    for path, (x, rate) in good.items():
        out = tmp_path / "out" / path.relative_to(tmp_path / "in")
        y, out_rate = read_f32(out)
        assert out_rate == rate and y.shape == x.shape
        want = dfn4.enhance(x, rate)
        assert np.max(np.abs(y - want)) <= 1e-6, path
    for path in bad:
        assert not (tmp_path / "out" / path.relative_to(tmp_path / "in")).exists()
    want_s = sum(x.shape[1] / rate for x, rate in good.values())
    assert abs(summary["audio_hours"] * 3600 - want_s) < 1e-6
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["enhanced"] == 16

    # A manifest: relative and absolute entries, comments, a missing file (reported, not fatal).
    manifest = tmp_path / "in" / "list.txt"
    entries = ["# corpus", "sub/good01.wav", str(tmp_path / "in" / "good00.wav"), "", "missing.wav"]
    manifest.write_text("\n".join(entries) + "\n")
    summary = example.run(manifest, tmp_path / "out2", workers=1)
    assert (summary["files"], summary["enhanced"], summary["failed"]) == (3, 2, 1)
    assert "missing.wav" in summary["failures"][0]["path"]
    assert (tmp_path / "out2" / "sub" / "good01.wav").exists()
    assert (tmp_path / "out2" / "good00.wav").exists()
