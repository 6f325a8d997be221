"""Issue 30's Python mistakes, one test each, so none comes back: ambiguous shapes, rates outside the
range, defaults hidden from help(), OSErrors without a file name, enhance_file over its input or an
existing output, NaN handled unlike the command line, and a streaming Denoiser whose latency was not
what it said (bursts, 73-274 ms of lag at 16 and 44.1 kHz)."""

import errno
import inspect
import os
import pydoc
import time
import warnings
import wave

import numpy as np
import pytest

import dfn4
from wavio import noisy_speech, read_f32, write_f32


# Shapes


def test_samples_channels_layout_is_refused_with_a_hint():
    # soundfile's layout: 548,204 frames of 2 channels, once taken as 548,204 channels (132 s, garbage).
    x = np.zeros((548204, 2), dtype=np.float32)
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"got \(548204, 2\): pass audio\.T"):
        dfn4.enhance(x, 44100)
    assert time.monotonic() - start < 2.0
    # More channels than the library's limit, even with more samples than channels.
    with pytest.raises(ValueError, match=r"at most 256 channels.*pass audio\.T"):
        dfn4.enhance(np.zeros((300, 1000), dtype=np.float32), 48000)
    with pytest.raises(ValueError, match=r"257 channels of 10 samples"):
        dfn4.enhance(np.zeros((257, 10), dtype=np.float32), 48000)
    # The hint works: the transpose is taken.
    y = noisy_speech(0.5, 16000)
    stereo = np.stack([y, y]).T.copy()
    out = dfn4.enhance(stereo.T, 16000)
    assert out.shape == (2, len(y))
    # A Denoiser streams 1-D chunks only.
    with pytest.raises(ValueError, match="1-D"):
        dfn4.Denoiser().process(np.zeros((480, 2), dtype=np.float32))


# Rates


@pytest.mark.parametrize("rate", [16, 44, 999, 768001])
def test_rates_outside_the_range_are_refused(rate):
    x = np.zeros(1000, dtype=np.float32)
    with pytest.raises(ValueError, match=f"sample rate {rate} Hz is outside the supported 1000–768000 Hz"):
        dfn4.enhance(x, rate)
    with pytest.raises(ValueError, match=f"sample rate {rate} Hz is outside the supported"):
        dfn4.Denoiser(sample_rate=rate)


# help()


def test_help_shows_the_real_defaults():
    for f in (dfn4.enhance, dfn4.enhance_file, dfn4.Denoiser):
        text = pydoc.render_doc(f)
        assert "Ellipsis" not in text and "=..." not in text, text
    # None: the machine's default, dfn4.DEFAULT_BACKEND (native-i8 or native-f16 by the CPU).
    assert dfn4.DEFAULT_BACKEND in dfn4.backends()
    assert dfn4.DEFAULT_BACKEND in ("native-i8", "native-f16")
    sig = inspect.signature(dfn4.enhance)
    assert sig.parameters["backend"].default is None
    assert sig.parameters["atten_lim_db"].default is None
    sig = inspect.signature(dfn4.enhance_file)
    assert sig.parameters["backend"].default is None
    assert sig.parameters["overwrite"].default is False
    sig = inspect.signature(dfn4.Denoiser)
    assert sig.parameters["sample_rate"].default == 48000
    assert sig.parameters["backend"].default is None


# OSError


def test_os_errors_carry_errno_and_file_name(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(FileNotFoundError) as e:
        dfn4.enhance_file(missing, tmp_path / "out.wav")
    assert e.value.errno == errno.ENOENT and e.value.filename == str(missing)
    assert "missing.wav" in str(e.value)

    good = tmp_path / "in.wav"
    write_f32(good, noisy_speech(0.2, 16000), 16000)
    out = tmp_path / "no" / "such" / "dir" / "out.wav"
    with pytest.raises(FileNotFoundError) as e:
        dfn4.enhance_file(good, out)
    assert e.value.errno == errno.ENOENT and e.value.filename == str(out)

    with pytest.raises(IsADirectoryError) as e:
        dfn4.enhance_file(tmp_path, tmp_path / "out.wav")
    assert e.value.errno == errno.EISDIR and e.value.filename == str(tmp_path)
    assert not (tmp_path / "out.wav").exists()


# In == out, existing outputs


def test_enhance_file_never_writes_over_its_input(tmp_path):
    p = tmp_path / "in.wav"
    write_f32(p, noisy_speech(0.3, 16000), 16000)
    before = p.read_bytes()
    link = tmp_path / "link.wav"
    link.symlink_to(p)
    hard = tmp_path / "hard.wav"
    os.link(p, hard)
    sub = tmp_path / "sub"
    sub.mkdir()
    for out in (p, str(p), link, hard, sub / ".." / "in.wav"):
        for overwrite in (False, True):
            with pytest.raises(ValueError, match="same file"):
                dfn4.enhance_file(p, out, overwrite=overwrite)
    with pytest.raises(ValueError, match="same file"):
        dfn4.enhance_file(link, p, overwrite=True)
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["hard.wav", "in.wav", "link.wav", "sub"]


def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path):
    src = tmp_path / "in.wav"
    write_f32(src, noisy_speech(0.3, 16000), 16000)
    out = tmp_path / "out.wav"
    out.write_bytes(b"precious")
    with pytest.raises(FileExistsError) as e:
        dfn4.enhance_file(src, out)
    assert e.value.errno == errno.EEXIST and e.value.filename == str(out)
    assert "overwrite=True" in str(e.value)
    assert out.read_bytes() == b"precious"
    report = dfn4.enhance_file(src, out, overwrite=True)
    assert report["channels"] == 1
    got, rate = read_f32(out)
    assert rate == 16000 and got.shape == (1, 4800)
    # No temporary file left beside it.
    assert sorted(os.listdir(tmp_path)) == ["in.wav", "out.wav"]


# NaN: replaced by 0 with a warning, as the command line does


def test_nan_and_inf_become_zero_with_a_warning():
    x = noisy_speech(0.5, 48000)
    bad = x.copy()
    bad[[10, 2000, 3000]] = [np.nan, np.inf, -np.inf]
    fixed = bad.copy()
    fixed[[10, 2000, 3000]] = 0.0
    with pytest.warns(RuntimeWarning, match="replaced 3 NaN/Inf samples with 0"):
        got = dfn4.enhance(bad, 48000)
    assert np.array_equal(got, dfn4.enhance(fixed, 48000))
    # Both channels counted.
    with pytest.warns(RuntimeWarning, match="replaced 4 NaN/Inf samples"):
        dfn4.enhance(np.stack([bad[:2500], bad[:2500]]), 48000)
    # No warning for clean input.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dfn4.enhance(x, 48000)
    # Streaming: the same rule; the output stays finite.
    d = dfn4.Denoiser()
    with pytest.warns(RuntimeWarning, match="replaced 1 NaN/Inf sample with 0"):
        out = d.process(bad[:1000])
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(d.process(x)))
    # As warnings.filterwarnings("error") makes it an exception, the stream is left untouched.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning):
            dfn4.Denoiser().process(bad)
    # Beyond +-1000 is not audio: refused, as before and as the command line does.
    with pytest.raises(ValueError, match="not audio"):
        dfn4.enhance(np.array([0.0, 1e38], dtype=np.float32), 48000)
    with pytest.raises(ValueError, match="sample 1001 is 2000.0: not audio"):
        d = dfn4.Denoiser()
        d.process(np.zeros(1000, dtype=np.float32))
        d.process(np.array([0.0, 2000.0], dtype=np.float32))


def test_nan_in_a_file_is_replaced_counted_and_warned(tmp_path):
    x = noisy_speech(0.3, 16000)
    x[[5, 6]] = np.nan
    write_f32(tmp_path / "in.wav", x, 16000)
    with pytest.warns(RuntimeWarning, match="replaced 2 NaN/Inf samples with 0"):
        report = dfn4.enhance_file(tmp_path / "in.wav", tmp_path / "out.wav")
    assert report["non_finite_replaced"] == 2
    got, _ = read_f32(tmp_path / "out.wav")
    assert np.all(np.isfinite(got))


# Streaming latency: the plugin's glue at every rate


def _delay(reference, delayed, max_lag):
    """The lag (samples) at which `delayed` best matches `reference` (FFT cross-correlation)."""
    n = 1 << int(np.ceil(np.log2(len(reference) + len(delayed))))
    corr = np.fft.irfft(np.fft.rfft(delayed, n) * np.conj(np.fft.rfft(reference, n)), n)
    return int(np.argmax(corr[: max_lag + 1]))


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_ten_ms_chunks_lag_by_latency_samples_without_bursts(rate):
    # Attenuation limit 0: the stream passes the input through, so its delay can be measured.
    d = dfn4.Denoiser(sample_rate=rate, atten_lim_db=0.0)
    lat = d.latency_samples
    # No more than the plugin's latency at the same rate (the same glue): at most ~40 ms.
    assert lat <= round(0.040 * rate), f"{rate} Hz: {lat} samples"
    rng = np.random.default_rng(rate)
    x = (0.1 * rng.standard_normal(2 * rate)).astype(np.float32)
    chunk = rate // 100
    given = returned = 0
    outs, lags = [], []
    for i in range(0, len(x) - chunk + 1, chunk):
        out = d.process(x[i : i + chunk])
        given += chunk
        returned += len(out)
        outs.append(out)
        lags.append(given - returned)
        if given >= lat + chunk:
            # Output on every call, as much as was given: no bursts.
            assert len(out) == chunk, f"{rate} Hz, call {len(outs)}: {len(out)} samples"
        else:
            assert returned == max(0, given - lat)
    # The steady lag (given minus returned) is latency_samples exactly.
    assert set(lags[len(lags) // 2 :]) == {lat}
    # The content: played as it arrives (silence until the first sample), the stream is the input
    # delayed by latency_samples, within 2 ms (measured: to the sample).
    played = np.concatenate([np.zeros(lat, dtype=np.float32)] + outs)[:given]
    measured = _delay(x[:given], played, 2 * lat)
    print(f"{rate} Hz: latency_samples {lat} ({1e3 * lat / rate:.1f} ms), measured lag {measured}")
    assert abs(measured - lat) <= 0.002 * rate, f"{rate} Hz: reported {lat}, measured {measured}"
    if rate == 48000:
        assert np.max(np.abs(played[lat:] - x[: given - lat])) < 1e-4
    # flush returns the rest: everything together is as long as the input.
    assert returned + len(d.flush()) == given


def test_streaming_denoises_at_16k_with_output_on_every_call():
    x = noisy_speech(2.0, 16000, seed=3)
    d = dfn4.Denoiser(sample_rate=16000)
    outs = [d.process(x[i : i + 160]) for i in range(0, len(x), 160)]
    sizes = [len(o) for o in outs[(d.latency_samples + 160) // 160 + 1 :]]
    assert set(sizes) == {160}
    got = np.concatenate(outs + [d.flush()])
    assert len(got) == len(x) and np.std(got) < np.std(x)


# What soundfile and scipy return, and the files people have (issue 27)


def test_float64_and_integer_arrays_are_taken_and_float32_comes_back():
    x32 = noisy_speech(1.0, 48000).astype(np.float32)
    want = dfn4.enhance(x32, 48000)
    got64 = dfn4.enhance(x32.astype(np.float64), 48000)
    assert got64.dtype == np.float32
    np.testing.assert_array_equal(got64, want)
    x16 = np.round(x32 * 32768).clip(-32768, 32767).astype(np.int16)
    got16 = dfn4.enhance(x16, 48000)
    assert got16.dtype == np.float32
    np.testing.assert_array_equal(got16, dfn4.enhance(x16.astype(np.float32) / 32768, 48000))
    x_i32 = x16.astype(np.int32) << 16
    np.testing.assert_array_equal(dfn4.enhance(x_i32, 48000), got16)


def test_enhance_file_reads_compressed_files(tmp_path):
    fixtures = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "formats")
    for name in ["speech.flac", "speech.mp3", "speech.ogg"]:
        out = tmp_path / (name + ".wav")
        report = dfn4.enhance_file(os.path.join(fixtures, name), out)
        assert report["sample_rate"] == 48000 and report["channels"] == 1
        assert abs(report["audio_s"] - 1.5) < 0.05
        with wave.open(str(out)) as w:
            assert w.getframerate() == 48000 and w.getsampwidth() == 2
            assert abs(w.getnframes() - 72000) <= 2048

