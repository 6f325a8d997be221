//! The shared host glue ([`dfn4::host::HostChannel`]) with the shipped model: any block size gives the
//! same output, the reported latency is the real delay (48 kHz exactly, other rates to the sample),
//! other rates denoise, bypass switches without a jump, hostile samples are repaired, and `process`
//! never touches the heap. (The plugin's ABI tests drive the same type through LADSPA and LV2.)
use std::path::Path;
use std::sync::Arc;

use std::sync::OnceLock;

use dfn4::backend::registry::{self, ModelSource};
use dfn4::backend::{default_backend, AnyBackend};
use dfn4::dsp::resample::resample;
use dfn4::host::HostChannel as Channel;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::heap_events;

fn backend() -> Arc<AnyBackend> {
    static BACKEND: OnceLock<Arc<AnyBackend>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            Arc::new(
                registry::create(default_backend(), ModelSource::Embedded)
                    .expect("the default backend builds"),
            )
        })
        .clone()
}

fn fixture(name: &str) -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name);
    let mut reader = hound::WavReader::open(path).unwrap();
    assert_eq!(reader.spec().sample_rate, 48_000);
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

/// Runs `input` through a fresh channel in blocks cycling through `blocks`.
fn run(channel: &mut Channel, input: &[f32], blocks: &[usize]) -> Vec<f32> {
    let mut out = input.to_vec();
    let mut pos = 0;
    for &n in blocks.iter().cycle() {
        if pos >= out.len() {
            break;
        }
        let end = (pos + n).min(out.len());
        channel.process(&mut out[pos..end]);
        pos = end;
    }
    out
}

/// Deterministic noise plus a tone, `seconds` long.
fn test_signal(rate_hz: u32, seconds: f32) -> Vec<f32> {
    let mut state = 0x1234_5678u32;
    (0..(rate_hz as f32 * seconds) as usize)
        .map(|i| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            let t = i as f32 / rate_hz as f32;
            0.1 * noise + 0.3 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
        })
        .collect()
}

#[test]
fn block_sizes_give_identical_output() {
    for rate_hz in [48_000, 44_100] {
        let input = test_signal(rate_hz, 1.0);
        let mut reference = None;
        for blocks in [&[1][..], &[7], &[64], &[480], &[4096], &[1, 300, 8192, 13]] {
            let mut channel = Channel::new(backend(), rate_hz).unwrap();
            let out = run(&mut channel, &input, blocks);
            match &reference {
                None => reference = Some(out),
                Some(r) => assert!(out == *r, "{rate_hz} Hz, blocks {blocks:?} differ"),
            }
        }
    }
}

#[test]
fn latency_at_48k_is_exact_and_at_most_one_hop_over_the_algorithm() {
    let mut channel = Channel::new(backend(), 48_000).unwrap();
    let latency = channel.latency_samples();
    // 960 − 480 + lookahead·480 = 960 (20 ms), plus at most one hop of buffering.
    assert_eq!(latency, 960 + 479);
    // Attenuation limit 0: the output is the input, delayed.
    channel.set_controls(0.0, false);
    let input = test_signal(48_000, 0.5);
    let out = run(&mut channel, &input, &[256]);
    let err = out[latency..]
        .iter()
        .zip(&input)
        .map(|(o, i)| (o - i).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 1e-5, "max error {err}");
    assert!(out[..latency].iter().all(|&x| x.abs() < 1e-6));
}

/// Lag (host samples) at which `out` best matches `input`, to a fraction of a sample.
fn measured_delay(input: &[f32], out: &[f32], max_lag: usize) -> f64 {
    let corr = |lag: usize| -> f64 {
        out[lag..]
            .iter()
            .zip(input)
            .map(|(&o, &i)| f64::from(o) * f64::from(i))
            .sum()
    };
    let c: Vec<f64> = (0..max_lag).map(corr).collect();
    let best = (1..max_lag - 1)
        .max_by(|&a, &b| c[a].total_cmp(&c[b]))
        .unwrap();
    let (l, m, r) = (c[best - 1], c[best], c[best + 1]);
    best as f64 + 0.5 * (l - r) / (l - 2.0 * m + r)
}

#[test]
fn latency_is_the_real_delay_at_other_rates() {
    // 44,101, 47,999 and 48,001 Hz: rates whose exact ratio to 48 kHz needs one-second resampler blocks
    // (about 2 s of latency before the ratio was approximated); now like their neighbours.
    for rate_hz in [44_100, 96_000, 16_000, 8_000, 44_101, 47_999, 48_001] {
        let mut channel = Channel::new(backend(), rate_hz).unwrap();
        channel.set_controls(0.0, false);
        // White-ish noise: a sharp correlation peak.
        let mut state = 99u32;
        let input: Vec<f32> = (0..rate_hz as usize / 2)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.5
            })
            .collect();
        let out = run(&mut channel, &input, &[128]);
        let latency = channel.latency_samples();
        let delay = measured_delay(&input, &out, 2 * latency);
        eprintln!("{rate_hz} Hz: reported {latency}, measured {delay:.2}");
        assert!(
            (delay - latency as f64).abs() <= 1.0,
            "{rate_hz} Hz: reported {latency}, measured {delay:.2}"
        );
        let latency_ms = latency as f64 * 1000.0 / f64::from(rate_hz);
        assert!(latency_ms <= 45.0, "{rate_hz} Hz: {latency_ms:.1} ms");
    }
}

#[test]
fn nan_and_inf_input_is_repaired_counted_and_the_output_stays_finite() {
    // NaN, +Inf and −Inf as the first sample of a host block, mid-block and the last sample, a burst,
    // and samples beyond ±1000, at 48 and 44.1 kHz. With the attenuation limit at 0 the output is the
    // input delayed, so the output must be exactly the repaired input delayed: finite throughout, and
    // back to the input right after each bad sample (well within one hop).
    for rate_hz in [48_000u32, 44_100] {
        let block = 256;
        let input = test_signal(rate_hz, 1.0);
        let mut bad = input.clone();
        let mut repaired = input.clone();
        let positions = [
            (10 * block, f32::NAN),
            (20 * block + block / 2, f32::INFINITY),
            (30 * block + block - 1, f32::NEG_INFINITY),
            (40 * block + 5, f32::NAN),
            (40 * block + 6, f32::NEG_INFINITY),
            (40 * block + 7, f32::INFINITY),
            (input.len() - 1, f32::NAN),
        ];
        for (i, v) in positions {
            bad[i] = v;
            repaired[i] = 0.0;
        }
        for (i, v) in [(50 * block, 1e10f32), (50 * block + 1, -1e30)] {
            bad[i] = v;
            repaired[i] = v.clamp(-1000.0, 1000.0);
        }
        let mut channel = Channel::new(backend(), rate_hz).unwrap();
        channel.set_controls(0.0, false);
        let out = run(&mut channel, &bad, &[block]);
        assert!(out.iter().all(|x| x.is_finite()), "{rate_hz} Hz");
        let mut reference = Channel::new(backend(), rate_hz).unwrap();
        reference.set_controls(0.0, false);
        assert!(
            run(&mut reference, &repaired, &[block]) == out,
            "{rate_hz} Hz"
        );
        let health = channel.health();
        assert_eq!(health.input.non_finite, 7, "{rate_hz} Hz");
        assert_eq!(health.input.clamped, 2, "{rate_hz} Hz");
        assert_eq!(health.resets, 0, "{rate_hz} Hz");
        assert_eq!(channel.errors(), 0);
        // In bypass too (the dry line sees the repaired input).
        let mut bypassed = Channel::new(backend(), rate_hz).unwrap();
        bypassed.set_controls(100.0, true);
        assert!(run(&mut bypassed, &bad, &[block])
            .iter()
            .all(|x| x.is_finite()));
    }
}

/// Energy (dB) of `x` over the 10 ms frames where `clean` is quiet.
fn noise_only_db(x: &[f32], clean: &[f32], frame: usize) -> f64 {
    let (mut e, mut n) = (0.0f64, 0usize);
    for (cx, cc) in x.chunks_exact(frame).zip(clean.chunks_exact(frame)) {
        let ce: f64 = cc.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / frame as f64;
        if ce < 1e-6 {
            e += cx.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
            n += frame;
        }
    }
    assert!(n > 0, "the fixture has noise-only frames");
    10.0 * (e / n as f64).log10()
}

#[test]
fn denoises_at_44k1() {
    let rate_hz = 44_100;
    let noisy = resample(&fixture("noisy_speech.wav"), 48_000, rate_hz).unwrap();
    let clean = resample(&fixture("clean_speech.wav"), 48_000, rate_hz).unwrap();
    let mut channel = Channel::new(backend(), rate_hz).unwrap();
    let out = run(&mut channel, &noisy, &[441]);
    let aligned = &out[channel.latency_samples()..];
    let before = noise_only_db(&noisy, &clean, 441);
    let after = noise_only_db(aligned, &clean, 441);
    eprintln!("noise-only frames at 44.1 kHz: {before:.1} dB in, {after:.1} dB out");
    assert!(after < before - 10.0, "{before:.1} dB → {after:.1} dB");
}

#[test]
fn bypass_crossfades_in_time_with_the_wet_signal() {
    let rate_hz = 48_000;
    let noisy = fixture("noisy_speech.wav");
    let input = &noisy[..3 * rate_hz as usize];
    let mut wet_ch = Channel::new(backend(), rate_hz).unwrap();
    let wet = run(&mut wet_ch, input, &[480]);
    let latency = wet_ch.latency_samples();
    let mut dry_delayed = vec![0.0; latency];
    dry_delayed.extend_from_slice(&input[..input.len() - latency]);

    let switch_at = 48_000 + 123;
    let mut ch = Channel::new(backend(), rate_hz).unwrap();
    let mut out = input.to_vec();
    ch.process(&mut out[..switch_at]);
    ch.set_controls(100.0, true);
    ch.process(&mut out[switch_at..]);

    assert_eq!(out[..switch_at], wet[..switch_at]);
    // A hop later, bypass plays the input delayed by the same latency: no jump in time.
    assert_eq!(out[switch_at + 480..], dry_delayed[switch_at + 480..]);
    // During the ramp, no step larger than the signals' own plus the ramp's share.
    let max_step = |x: &[f32]| {
        x.windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max)
    };
    let span = switch_at - 2..switch_at + 482;
    let bound =
        max_step(&wet[span.clone()]).max(max_step(&dry_delayed[span.clone()])) + 2.0 / 480.0;
    assert!(max_step(&out[span]) <= bound);
}

#[test]
fn process_never_touches_the_heap() {
    // Block sizes 1…8192, hostile samples now and then, controls and bypass changing between blocks,
    // and a reset: after construction nothing allocates or frees.
    for rate_hz in [48_000u32, 44_100, 16_000, 8_000] {
        let mut channel = Channel::new(backend(), rate_hz).unwrap();
        let mut buf = vec![0.0f32; 8192];
        let mut phase = 0.0f32;
        let events = heap_events(|| {
            for (i, &n) in [1usize, 7, 64, 441, 480, 4096, 8192, 3, 1000]
                .iter()
                .cycle()
                .take(72)
                .enumerate()
            {
                for x in buf[..n].iter_mut() {
                    phase += 0.03;
                    *x = 0.2 * phase.sin();
                }
                if i % 3 == 0 {
                    buf[n / 2] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e9][i % 4];
                }
                channel.set_controls([100.0, 12.0, 0.0, 30.0][i % 4], i % 5 == 0);
                channel.process(&mut buf[..n]);
                if i == 40 {
                    channel.reset();
                }
            }
        });
        assert_eq!(events, 0, "{rate_hz} Hz");
        assert!(buf.iter().all(|x| x.is_finite()));
    }
}

#[test]
fn controls_and_rate_read_back() {
    let mut channel = Channel::new(backend(), 22_050).unwrap();
    assert_eq!(channel.rate_hz(), 22_050);
    assert_eq!(channel.atten_control_db(), 100.0);
    assert!(!channel.bypass());
    channel.set_controls(12.0, true);
    assert_eq!(channel.atten_control_db(), 12.0);
    assert!(channel.bypass());
    channel.set_bypass(false);
    channel.set_atten_control_db(0.0);
    assert!(!channel.bypass() && channel.atten_control_db() == 0.0);
    // The latency does not depend on the controls, and a reset keeps them.
    let latency = channel.latency_samples();
    channel.reset();
    assert_eq!(channel.latency_samples(), latency);
    assert_eq!(channel.atten_control_db(), 0.0);
    for rate_hz in [0, 999, 768_001, u32::MAX] {
        assert!(Channel::new(backend(), rate_hz).is_err(), "{rate_hz} Hz");
    }
}

#[test]
fn interleaved_stream_equals_its_channels_and_never_allocates() {
    use dfn4::host::HostStream;
    let rate_hz = 44_100;
    let left = test_signal(rate_hz, 0.7);
    let right: Vec<f32> = left.iter().rev().map(|x| 0.5 * x).collect();
    let mut stream = HostStream::new(backend(), rate_hz, 2).unwrap();
    stream.set_atten_control_db(12.0);
    stream.set_post_filter(true);
    assert!(stream.post_filter() && stream.atten_control_db() == 12.0);
    let mut io: Vec<f32> = left
        .iter()
        .zip(&right)
        .flat_map(|(l, r)| [*l, *r])
        .collect();
    assert!(stream.process_interleaved(&mut io[..3]).is_err());
    let events = heap_events(|| {
        // Odd block sizes, one above the scratch size.
        let mut at = 0;
        for n in [1usize, 333, 2049, 7].iter().cycle() {
            let end = (at + 2 * n).min(io.len());
            stream.process_interleaved(&mut io[at..end]).unwrap();
            at = end;
            if at == io.len() {
                break;
            }
        }
    });
    assert_eq!(events, 0);
    for (c, x) in [left, right].iter().enumerate() {
        let mut ch = Channel::new(backend(), rate_hz).unwrap();
        ch.set_atten_control_db(12.0);
        ch.set_post_filter(true);
        let expected = run(&mut ch, x, &[480]);
        let got: Vec<f32> = io.iter().skip(c).step_by(2).copied().collect();
        assert_eq!(got, expected, "channel {c}");
    }
    assert_eq!(
        stream.latency_samples(),
        Channel::new(backend(), rate_hz).unwrap().latency_samples()
    );
    assert!(HostStream::new(backend(), 48_000, 0).is_err());
    assert!(HostStream::new(backend(), 48_000, 257).is_err());
}
