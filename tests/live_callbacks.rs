//! The live pipeline without a sound card: the audio callback bodies ([`InputSide`], [`OutputSide`])
//! and the worker driven by hand. Proves that the callbacks never allocate or free (counting
//! allocator) on every path — normal, ring full, ring empty, not yet primed, tap full, worker switch,
//! latency trim —
//! that the worker's hop path does not allocate either, and that audio crosses the chain unchanged:
//! the output is exactly the offline denoiser's output (or, in bypass, the input) delayed.
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dfn4::backend::registry::{self, ModelSource};
use dfn4::backend::AnyBackend;
use dfn4::config::ModelConfig;
use dfn4::denoiser::{DenoiseParams, Denoiser};
use dfn4::model::Weights;
use dfn4::stream::callbacks::{connect, CallbackCounts, DeviceFormat, RingSizes};
use dfn4::stream::meters::LiveMeters;
use dfn4::stream::worker::Worker;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::heap_events;

// ---- helpers ----

fn backend() -> Arc<AnyBackend> {
    let weights = Weights::random(&ModelConfig::default(), 7);
    Arc::new(registry::create("native", ModelSource::Weights(&weights)).unwrap())
}

fn params() -> DenoiseParams {
    DenoiseParams {
        post_filter: true,
        min_db_thresh: -15.0,
        max_db_erb_thresh: 35.0,
        max_db_df_thresh: 35.0,
        ..DenoiseParams::default()
    }
}

/// A speech-band test signal with a little deterministic noise.
fn signal(len: usize, rate_hz: u32) -> Vec<f32> {
    let mut seed = 0x2468_ace1u32;
    (0..len)
        .map(|i| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.05;
            let t = i as f32 / rate_hz as f32;
            0.3 * (std::f32::consts::TAU * 220.0 * t).sin()
                + 0.1 * (std::f32::consts::TAU * 1370.0 * t).sin()
                + noise
        })
        .collect()
}

fn sizes(prefill: usize, ring: usize, tap: usize) -> RingSizes {
    RingSizes {
        ring_samples: ring,
        input_tap_samples: tap,
        output_tap_samples: tap,
        prefill_samples: prefill,
    }
}

#[test]
fn callbacks_never_touch_the_heap_on_any_path() {
    // The counter works: an allocation on this thread is seen.
    assert!(heap_events(|| drop(std::hint::black_box(vec![1u8; 64]))) > 0);

    let meters = Arc::new(LiveMeters::new(&["native", "native"], None));
    let input = DeviceFormat {
        rate_hz: 48_000,
        channels: 2,
    };
    let output = DeviceFormat {
        rate_hz: 44_100,
        channels: 2,
    };
    // Small rings and taps so that the full-ring and full-tap paths are reached quickly.
    let counts = Arc::new(CallbackCounts::default());
    let (mut input_side, mut output_side, ports, _taps) = connect(
        Arc::clone(&meters),
        input,
        output,
        sizes(882, 4096, 2048),
        counts,
        Instant::now(),
    );
    input_side.set_wakers(vec![std::thread::current(), std::thread::current()]);
    let backend = backend();
    let mut workers: Vec<Worker> = ports
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let d = Denoiser::new(Arc::clone(&backend), params()).unwrap();
            Worker::new(i, d, p, Arc::clone(&meters), 48_000, 44_100).unwrap()
        })
        .collect();

    let mono = signal(48_000, 48_000);
    let block_in: Vec<i16> = mono[..960]
        .iter()
        .flat_map(|&s| {
            let v = (s * 32767.0) as i16;
            [v, v]
        })
        .collect();
    let mut block_out = vec![0.0f32; 2 * 441];
    let delay = Duration::from_millis(3);

    // Not primed yet: silence, no underrun.
    assert_eq!(
        heap_events(|| output_side.process(&mut block_out, delay)),
        0
    );
    assert_eq!(meters.output_underruns.load(Ordering::Relaxed), 0);
    assert!(!output_side.primed());

    // Normal operation, with the attenuation limit and bypass changed on the way.
    for step in 0..40 {
        if step == 10 {
            meters.atten_lim_db.store(12.0);
        }
        if step == 20 {
            meters.bypass.store(true, Ordering::Relaxed);
        }
        if step == 30 {
            meters.active_worker.store(1, Ordering::Relaxed);
        }
        assert_eq!(
            heap_events(|| input_side.process(&block_in, delay)),
            0,
            "input, step {step}"
        );
        for w in &mut workers {
            let n = heap_events(|| {
                w.pump().unwrap();
            });
            assert_eq!(n, 0, "worker pump, step {step}");
        }
        for _ in 0..2 {
            let n = heap_events(|| output_side.process(&mut block_out, delay));
            assert_eq!(n, 0, "output, step {step}");
        }
    }
    assert!(output_side.primed());
    assert!(
        block_out.iter().any(|&s| s != 0.0),
        "audio reached the output"
    );
    assert_eq!(meters.input_overruns.load(Ordering::Relaxed), 0);
    assert!(
        meters.tap_dropped_samples.load(Ordering::Relaxed) > 0,
        "the small taps filled up"
    );

    // A stall of the output side (four steps unplayed) leaves a surplus queued; after half a second
    // of normal play the output callback skips it, cross-fading over the cut: the trim path.
    for _ in 0..4 {
        input_side.process(&block_in, delay);
        for w in &mut workers {
            w.pump().unwrap();
        }
    }
    for step in 0..40 {
        assert_eq!(heap_events(|| input_side.process(&block_in, delay)), 0);
        for w in &mut workers {
            w.pump().unwrap();
        }
        for _ in 0..2 {
            let n = heap_events(|| output_side.process(&mut block_out, delay));
            assert_eq!(n, 0, "output while trimming, step {step}");
        }
    }
    assert!(meters.output_trimmed_samples.load(Ordering::Relaxed) > 0);

    // Output with nothing left: underrun path.
    for _ in 0..20 {
        assert_eq!(
            heap_events(|| output_side.process(&mut block_out, delay)),
            0
        );
    }
    assert!(meters.output_underruns.load(Ordering::Relaxed) > 0);

    // Input with the workers stalled: ring-full path.
    for _ in 0..10 {
        assert_eq!(heap_events(|| input_side.process(&block_in, delay)), 0);
    }
    assert!(meters.input_overruns.load(Ordering::Relaxed) > 0);
    assert!(meters.workers[1].overruns.load(Ordering::Relaxed) > 0);

    // A block longer than the converter's piece size is handled in pieces, still heap-free.
    let long_in = vec![0.1f32; 2 * 10_000];
    let mut long_out = vec![0.0f32; 2 * 10_000];
    assert_eq!(heap_events(|| input_side.process(&long_in, delay)), 0);
    assert_eq!(heap_events(|| output_side.process(&mut long_out, delay)), 0);
}

/// Runs `signal` through input callback → worker → output callback at 48 kHz mono, in blocks of
/// `block` frames, and returns what the output callback played.
fn through_the_chain(signal: &[f32], block: usize, bypass: bool) -> Vec<f32> {
    through_the_chain_with_meters(signal, block, bypass).0
}

/// [`through_the_chain`], also returning the meters of the run.
fn through_the_chain_with_meters(
    signal: &[f32],
    block: usize,
    bypass: bool,
) -> (Vec<f32>, Arc<LiveMeters>) {
    let meters = Arc::new(LiveMeters::new(&["native"], None));
    meters.bypass.store(bypass, Ordering::Relaxed);
    let format = DeviceFormat {
        rate_hz: 48_000,
        channels: 1,
    };
    let counts = Arc::new(CallbackCounts::default());
    let (mut input_side, mut output_side, ports, _) = connect(
        Arc::clone(&meters),
        format,
        format,
        sizes(block, 1 << 16, 0),
        counts,
        Instant::now(),
    );
    let d = Denoiser::new(backend(), params()).unwrap();
    let port = ports.into_iter().next().unwrap();
    let mut worker = Worker::new(0, d, port, Arc::clone(&meters), 48_000, 48_000).unwrap();
    let mut played = Vec::new();
    let mut out = vec![0.0f32; block];
    for chunk in signal.chunks_exact(block) {
        input_side.process(chunk, Duration::ZERO);
        worker.pump().unwrap();
        output_side.process(&mut out, Duration::ZERO);
        played.extend_from_slice(&out);
    }
    assert_eq!(meters.output_underruns.load(Ordering::Relaxed), 0);
    assert_eq!(meters.input_overruns.load(Ordering::Relaxed), 0);
    (played, meters)
}

#[test]
fn nan_and_inf_from_the_device_are_repaired_counted_and_never_stick() {
    // NaN, +Inf and −Inf as the first sample of a device block, mid-block and the last sample, and a
    // sample far beyond full scale: the worker repairs them before the resampler and the model (0, or
    // clamped to ±1000), so what is played is exactly what the repaired signal gives, finite throughout.
    let block = 480;
    let x = signal(24_000, 48_000);
    let mut bad = x.clone();
    let mut repaired = x.clone();
    for (i, v) in [
        (10 * block, f32::NAN),
        (20 * block + block / 2, f32::INFINITY),
        (30 * block + block - 1, f32::NEG_INFINITY),
    ] {
        bad[i] = v;
        repaired[i] = 0.0;
    }
    bad[40 * block + 3] = 1e12;
    repaired[40 * block + 3] = 1000.0;
    let (played, meters) = through_the_chain_with_meters(&bad, block, false);
    assert!(played.iter().all(|s| s.is_finite()));
    assert!(played == through_the_chain(&repaired, block, false));
    let m = &meters.workers[0];
    assert_eq!(m.input_repaired.load(Ordering::Relaxed), 4);
    assert_eq!(m.denoiser_resets.load(Ordering::Relaxed), 0);
}

#[test]
fn the_chain_plays_exactly_the_offline_output_delayed() {
    let block = 480;
    let x = signal(48_000, 48_000);
    let played = through_the_chain(&x, block, false);
    let offline: Vec<f32> = Denoiser::new(backend(), params())
        .unwrap()
        .process_signal(&x)
        .unwrap()
        .into_iter()
        // The device format is [-1, 1]: the output callback saturates (random weights overshoot).
        .map(|s| s.clamp(-1.0, 1.0))
        .collect();
    // Each block goes through at once (input, worker, output in turn), so the prefill of one block is
    // reached in the first round: the only delay is the denoiser's 960 samples.
    let lag = 960;
    let n = played.len() - lag;
    let err = played[lag..]
        .iter()
        .zip(&offline[..n])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    let first_bad = played[lag..]
        .iter()
        .zip(&offline[..n])
        .position(|(a, b)| (a - b).abs() > 1e-6);
    assert!(err < 1e-6, "max difference {err}, first at {first_bad:?}");
    assert!(
        offline[..n].iter().map(|s| s * s).sum::<f32>() > 1.0,
        "a real signal went through"
    );
}

#[test]
fn bypass_plays_the_input_with_the_same_delay() {
    let block = 480;
    let x = signal(24_000, 48_000);
    let played = through_the_chain(&x, block, true);
    let lag = 960;
    assert!(played[..lag].iter().all(|&s| s == 0.0));
    let mismatches = played[lag..].iter().zip(&x).filter(|(a, b)| a != b).count();
    assert_eq!(mismatches, 0, "bypass must be the input, bit for bit");
}

/// The lag at which `played` repeats `x` sample for sample over `played[range]`, if any.
fn lag_of(played: &[f32], x: &[f32], range: std::ops::Range<usize>) -> Option<usize> {
    (0..range.start).find(|&lag| {
        range
            .clone()
            .all(|t| t >= lag && t - lag < x.len() && played[t] == x[t - lag])
    })
}

#[test]
fn a_stalled_worker_costs_latency_only_until_the_trim() {
    // Bypass, so the output is the input delayed and the delay can be read off exactly.
    let block = 240;
    let meters = Arc::new(LiveMeters::new(&["native"], None));
    meters.bypass.store(true, Ordering::Relaxed);
    let format = DeviceFormat {
        rate_hz: 48_000,
        channels: 1,
    };
    let (mut input_side, mut output_side, ports, _) = connect(
        Arc::clone(&meters),
        format,
        format,
        sizes(block, 1 << 16, 0),
        Arc::new(CallbackCounts::default()),
        Instant::now(),
    );
    let d = Denoiser::new(backend(), params()).unwrap();
    let port = ports.into_iter().next().unwrap();
    let mut worker = Worker::new(0, d, port, Arc::clone(&meters), 48_000, 48_000).unwrap();
    let x = signal(3 * 48_000, 48_000);
    let mut played = Vec::new();
    let mut out = vec![0.0f32; block];
    // 1 s in, the worker stalls for 100 ms (20 blocks), then catches up at once.
    let stall = 200..220;
    for (i, chunk) in x.chunks_exact(block).enumerate() {
        input_side.process(chunk, Duration::ZERO);
        if !stall.contains(&i) {
            worker.pump().unwrap();
        }
        output_side.process(&mut out, Duration::ZERO);
        played.extend_from_slice(&out);
    }
    assert!(meters.output_underruns.load(Ordering::Relaxed) > 0);
    let before = lag_of(&played, &x, 24_000..47_000).expect("steady before the stall");
    let after_stall = lag_of(&played, &x, 55_000..60_000).expect("steady after the stall");
    let end = lag_of(&played, &x, 120_000..x.len()).expect("steady at the end");
    assert!(
        after_stall >= before + 4_000,
        "the stall added its length: {before} → {after_stall}"
    );
    assert_eq!(end, before, "the latency came back to where it was");
    let trimmed = meters.output_trimmed_samples.load(Ordering::Relaxed) as usize;
    assert_eq!(trimmed, after_stall - before);
}

#[test]
fn capture_the_host_dropped_is_counted_as_an_input_gap() {
    let meters = Arc::new(LiveMeters::new(&["native"], None));
    let format = DeviceFormat {
        rate_hz: 48_000,
        channels: 1,
    };
    let (mut input_side, _output, _ports, _) = connect(
        Arc::clone(&meters),
        format,
        format,
        sizes(480, 1 << 16, 0),
        Arc::new(CallbackCounts::default()),
        // An epoch a second back, so that "captured 50 ms ago" is a time after it.
        Instant::now() - Duration::from_secs(1),
    );
    let block = vec![0.0f32; 960]; // 20 ms
    let ms = Duration::from_millis;
    let pause = || std::thread::sleep(ms(2));
    // One period delivered as two blocks back to back, both stamped with the first one's capture
    // time (as cpal's PulseAudio host does): one batch of 40 ms, captured from 80 ms ago.
    let t0 = Instant::now();
    input_side.process(&block, ms(80));
    input_side.process(&block, ms(80) + t0.elapsed());
    // The next period, a little later, captured from where the batch ended (40 ms before t0).
    pause();
    input_side.process(&block, ms(40) + t0.elapsed());
    assert_eq!(meters.input_gaps.load(Ordering::Relaxed), 0);
    // The next block started capturing only now: the 20 ms or so before it never arrived.
    pause();
    input_side.process(&block, ms(0));
    assert_eq!(meters.input_gaps.load(Ordering::Relaxed), 1);
}
