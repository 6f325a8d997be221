//! `Denoiser` with a mock backend whose outputs are known exactly (the native backend is developed
//! separately): passthrough reconstruction, LSNR stages, attenuation limit, alignment, no allocation in
//! `process_frame`, `Send`, and hostile input: NaN/Inf/huge samples repaired and counted, a non-finite
//! output hop silenced and followed by a reset.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dfn4::backend::{Backend, Features, ModelOutput, SeqFeatures, SeqModelOutput};
use dfn4::config::{ModelConfig, HOP_SIZE};
use dfn4::denoiser::{DenoiseParams, Denoiser, DenoiserHealth};
use dfn4::dsp::sanitize::{SanitizeCounts, MAX_SAMPLE_AMPLITUDE};
use dfn4::{Error, Result};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::heap_events;

// ---- mock backend ----

/// Fixed outputs: every ERB gain `gain`, DF coefficients that pick the delayed frame itself (identity
/// filter), and a fixed LSNR. Counts its steps in the state so state handling is observable.
struct MockBackend {
    cfg: ModelConfig,
    gain: f32,
    lsnr_db: f32,
    fail: bool,
    /// The step (counted over the backend's life, across resets) whose gains are NaN.
    poison_step: Option<u64>,
    steps: AtomicU64,
}

impl MockBackend {
    fn identity(lsnr_db: f32) -> Self {
        Self {
            cfg: ModelConfig::default(),
            gain: 1.0,
            lsnr_db,
            fail: false,
            poison_step: None,
            steps: AtomicU64::new(0),
        }
    }

    fn fill(&self, gains: &mut [f32], coefs: &mut [f32], lsnr: &mut [f32]) {
        let order = self.cfg.df_order;
        // Tap `order − 1 − lookahead` multiplies the frame being enhanced (t − lookahead).
        let tap = order - 1 - self.cfg.df_lookahead;
        gains.fill(self.gain);
        coefs.fill(0.0);
        for c in coefs.chunks_exact_mut(order * 2) {
            c[tap * 2] = 1.0;
        }
        lsnr.fill(self.lsnr_db);
    }
}

impl Backend for MockBackend {
    type State = u64;
    fn name(&self) -> &'static str {
        "mock"
    }
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }
    fn new_state(&self, _batch: usize) -> Result<u64> {
        Ok(0)
    }
    fn reset_state(&self, state: &mut u64) {
        *state = 0;
    }
    fn step(&self, feats: &Features, state: &mut u64, out: &mut ModelOutput) -> Result<()> {
        if self.fail {
            return Err(Error::Backend("mock failure".into()));
        }
        assert!(feats.erb.iter().chain(&feats.spec).all(|v| v.is_finite()));
        *state += 1;
        self.fill(&mut out.gains, &mut out.coefs, &mut out.lsnr_db);
        if Some(self.steps.fetch_add(1, Ordering::Relaxed)) == self.poison_step {
            out.gains.fill(f32::NAN);
        }
        Ok(())
    }
    fn run_sequence(&self, _feats: &SeqFeatures, out: &mut SeqModelOutput) -> Result<()> {
        self.fill(&mut out.gains, &mut out.coefs, &mut out.lsnr_db);
        Ok(())
    }
}

fn test_signal(len: usize) -> Vec<f32> {
    let mut seed = 0x2545_f491u32;
    (0..len)
        .map(|n| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            let t = n as f32 / 48_000.0;
            0.4 * (2.0 * std::f32::consts::PI * (150.0 + 3000.0 * t) * t).sin() + 0.1 * noise
        })
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn denoiser(backend: MockBackend, params: DenoiseParams) -> Denoiser<MockBackend> {
    Denoiser::new(Arc::new(backend), params).expect("denoiser")
}

#[test]
fn latency_is_one_window_plus_lookahead() {
    let d = denoiser(MockBackend::identity(10.0), DenoiseParams::default());
    assert_eq!(d.latency_samples(), 960);
}

#[test]
fn identity_outputs_reproduce_the_input_aligned() {
    // LSNR 10 dB selects gains + deep filter; unit gains and the identity filter must give back the input.
    let mut d = denoiser(MockBackend::identity(10.0), DenoiseParams::default());
    let x = test_signal(48_000 + 123);
    let y = d.process_signal(&x).unwrap();
    assert_eq!(y.len(), x.len());
    let err = max_abs_diff(&x, &y);
    assert!(err < 1e-5, "max error {err}");
    // A second call starts from a fresh state and gives the same result.
    assert_eq!(d.process_signal(&x).unwrap(), y);
}

#[test]
fn short_and_empty_signals_keep_their_length() {
    let mut d = denoiser(MockBackend::identity(10.0), DenoiseParams::default());
    assert!(d.process_signal(&[]).unwrap().is_empty());
    let x = test_signal(100);
    let y = d.process_signal(&x).unwrap();
    assert_eq!(y.len(), 100);
    assert!(max_abs_diff(&x, &y) < 1e-5);
}

#[test]
fn erb_gains_scale_the_signal() {
    // LSNR 25 dB: gains only. A uniform gain is linear all the way through the STFT.
    let backend = MockBackend {
        gain: 0.25,
        ..MockBackend::identity(25.0)
    };
    let mut d = denoiser(backend, DenoiseParams::default());
    let x = test_signal(20 * HOP_SIZE);
    let y = d.process_signal(&x).unwrap();
    let want: Vec<f32> = x.iter().map(|v| v * 0.25).collect();
    assert!(max_abs_diff(&want, &y) < 1e-5);
}

#[test]
fn lsnr_stages_zero_or_pass_frames() {
    let x = test_signal(20 * HOP_SIZE);
    let quiet = MockBackend {
        gain: 0.25,
        ..MockBackend::identity(-20.0)
    };
    let y = denoiser(quiet, DenoiseParams::default())
        .process_signal(&x)
        .unwrap();
    assert!(
        y.iter().all(|v| v.abs() < 1e-7),
        "noise-only frames must be silent"
    );

    let clean = MockBackend {
        gain: 0.25,
        ..MockBackend::identity(33.0)
    };
    let y = denoiser(clean, DenoiseParams::default())
        .process_signal(&x)
        .unwrap();
    assert!(
        max_abs_diff(&x, &y) < 1e-5,
        "clean frames must pass unprocessed"
    );
}

#[test]
fn attenuation_limit_mixes_back_the_noisy_signal() {
    let x = test_signal(20 * HOP_SIZE);
    let params = DenoiseParams {
        atten_lim_db: Some(12.0),
        ..DenoiseParams::default()
    };
    let lim = 10f32.powf(-12.0 / 20.0);
    let y = denoiser(MockBackend::identity(-20.0), params)
        .process_signal(&x)
        .unwrap();
    let want: Vec<f32> = x.iter().map(|v| v * lim).collect();
    assert!(max_abs_diff(&want, &y) < 1e-5);
}

#[test]
fn post_filter_leaves_unit_gains_alone_and_lowers_small_gains() {
    let x = test_signal(20 * HOP_SIZE);
    let params = DenoiseParams {
        post_filter: true,
        ..DenoiseParams::default()
    };
    let y = denoiser(MockBackend::identity(10.0), params)
        .process_signal(&x)
        .unwrap();
    assert!(max_abs_diff(&x, &y) < 1e-4);
    let half = MockBackend {
        gain: 0.5,
        ..MockBackend::identity(25.0)
    };
    let y = denoiser(half, params).process_signal(&x).unwrap();
    let energy = |s: &[f32]| s.iter().map(|v| v * v).sum::<f32>();
    assert!(
        energy(&y) < 0.25 * energy(&x) * 0.99,
        "post-filter must attenuate below the gain"
    );
}

#[test]
fn process_frame_returns_lsnr_and_propagates_backend_errors() {
    let mut d = denoiser(MockBackend::identity(7.5), DenoiseParams::default());
    let mut out = [0.0; HOP_SIZE];
    assert_eq!(d.process_frame(&[0.1; HOP_SIZE], &mut out).unwrap(), 7.5);
    let failing = MockBackend {
        fail: true,
        ..MockBackend::identity(0.0)
    };
    let mut d = denoiser(failing, DenoiseParams::default());
    assert!(matches!(
        d.process_frame(&[0.0; HOP_SIZE], &mut out),
        Err(Error::Backend(_))
    ));
}

#[test]
fn invalid_params_are_rejected() {
    let bad = DenoiseParams {
        post_filter_beta: -1.0,
        ..DenoiseParams::default()
    };
    assert!(Denoiser::new(Arc::new(MockBackend::identity(0.0)), bad).is_err());
    let bad = DenoiseParams {
        min_db_thresh: f32::NAN,
        ..DenoiseParams::default()
    };
    assert!(Denoiser::new(Arc::new(MockBackend::identity(0.0)), bad).is_err());
}

/// Heap events (allocations and frees) while `d` processes `x` hop by hop after a warm-up of 10 hops.
fn steady_heap_events<B: Backend>(d: &mut Denoiser<B>, x: &[f32]) -> usize {
    let mut hop = [0.0f32; HOP_SIZE];
    let mut out = [0.0f32; HOP_SIZE];
    for chunk in x.chunks_exact(HOP_SIZE).take(10) {
        hop.copy_from_slice(chunk);
        d.process_frame(&hop, &mut out).unwrap();
    }
    heap_events(|| {
        for chunk in x.chunks_exact(HOP_SIZE).skip(10) {
            hop.copy_from_slice(chunk);
            d.process_frame(&hop, &mut out).unwrap();
        }
    })
}

#[test]
fn process_frame_does_not_allocate() {
    // The counter works: an allocation on this thread is seen.
    assert!(heap_events(|| drop(std::hint::black_box(vec![1u8; 64]))) > 0);

    let x = test_signal(400 * HOP_SIZE);
    // Post-filter and attenuation limit on, and every LSNR stage visited, so every path is covered.
    let params = DenoiseParams {
        post_filter: true,
        atten_lim_db: Some(20.0),
        ..DenoiseParams::default()
    };
    for lsnr_db in [-20.0, 0.0, 25.0, 40.0] {
        let mut d = denoiser(MockBackend::identity(lsnr_db), params);
        let n = steady_heap_events(&mut d, &x);
        assert_eq!(
            n, 0,
            "process_frame allocated or freed {n} times at lsnr {lsnr_db} dB"
        );
    }
}

#[test]
fn denoiser_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Denoiser<MockBackend>>();
}

/// Runs `x` (whole hops) through `d` hop by hop; the concatenated output.
fn run_hops<B: Backend>(d: &mut Denoiser<B>, x: &[f32]) -> Vec<f32> {
    let mut hop = [0.0f32; HOP_SIZE];
    let mut out = [0.0f32; HOP_SIZE];
    let mut y = Vec::with_capacity(x.len());
    for chunk in x.chunks_exact(HOP_SIZE) {
        hop.copy_from_slice(chunk);
        d.process_frame(&hop, &mut out).unwrap();
        y.extend_from_slice(&out);
    }
    y
}

#[test]
fn non_finite_and_huge_input_is_repaired_counted_and_never_reaches_the_model() {
    // The mock's `step` asserts that every feature is finite, so a sample that reached the model
    // would fail the test there. NaN, +Inf and −Inf at the first sample of a hop, mid-hop and the last
    // sample, a burst, and samples beyond the bound; the output must stay finite throughout and equal
    // the output for the repaired signal (0 for non-finite, clamped to ±1000), so recovery is
    // immediate: nothing of the bad samples survives past the hop they were in.
    let hops = 60;
    let x = test_signal(hops * HOP_SIZE);
    let mut bad = x.clone();
    let mut repaired = x.clone();
    let non_finite = [
        (10 * HOP_SIZE, f32::NAN),
        (12 * HOP_SIZE + HOP_SIZE / 2, f32::INFINITY),
        (14 * HOP_SIZE + HOP_SIZE - 1, f32::NEG_INFINITY),
        (20 * HOP_SIZE + 7, f32::NAN),
        (20 * HOP_SIZE + 8, f32::INFINITY),
        (20 * HOP_SIZE + 9, f32::NEG_INFINITY),
        (hops * HOP_SIZE - 1, f32::NAN),
    ];
    for (i, v) in non_finite {
        bad[i] = v;
        repaired[i] = 0.0;
    }
    for (i, v) in [(30 * HOP_SIZE + 3, 1e10f32), (31 * HOP_SIZE, -3e38)] {
        bad[i] = v;
        repaired[i] = v.clamp(-MAX_SAMPLE_AMPLITUDE, MAX_SAMPLE_AMPLITUDE);
    }
    let mut d = denoiser(MockBackend::identity(10.0), DenoiseParams::default());
    let y = run_hops(&mut d, &bad);
    assert!(y.iter().all(|v| v.is_finite()), "non-finite output");
    let mut reference = denoiser(MockBackend::identity(10.0), DenoiseParams::default());
    assert_eq!(y, run_hops(&mut reference, &repaired));
    assert_eq!(
        d.health(),
        DenoiserHealth {
            input: SanitizeCounts {
                non_finite: 7,
                clamped: 2
            },
            resets: 0
        }
    );
    assert_eq!(reference.health(), DenoiserHealth::default());
    // Clean audio far from the bad samples comes through as before (identity model: input, delayed).
    let delay = d.latency_samples();
    let (from, to) = (40 * HOP_SIZE, 55 * HOP_SIZE);
    assert!(max_abs_diff(&y[from + delay..to + delay], &x[from..to]) < 1e-5);
}

#[test]
fn a_non_finite_output_hop_is_silenced_and_resets_the_denoiser() {
    // The model returns NaN gains at step 20: that hop's output would be NaN. It must come out as
    // silence, the denoiser must reset (counted), and from the next hop on (within 10 ms) the output is
    // finite and equals a fresh denoiser's on the rest of the signal.
    let poisoned = 20;
    let backend = MockBackend {
        poison_step: Some(poisoned as u64),
        ..MockBackend::identity(10.0)
    };
    let mut d = denoiser(backend, DenoiseParams::default());
    let x = test_signal(40 * HOP_SIZE);
    let y = run_hops(&mut d, &x);
    assert!(y.iter().all(|v| v.is_finite()));
    let hop = |s: &[f32], t: usize| s[t * HOP_SIZE..(t + 1) * HOP_SIZE].to_vec();
    assert!(hop(&y, poisoned).iter().all(|&v| v == 0.0));
    assert!(hop(&y, poisoned - 1).iter().any(|&v| v != 0.0));
    assert_eq!(d.health().resets, 1);
    assert_eq!(d.health().input, SanitizeCounts::default());
    let mut fresh = denoiser(MockBackend::identity(10.0), DenoiseParams::default());
    let after = run_hops(&mut fresh, &x[(poisoned + 1) * HOP_SIZE..]);
    assert_eq!(&y[(poisoned + 1) * HOP_SIZE..], &after[..]);
}

#[test]
fn repairs_and_resets_do_not_allocate() {
    let backend = MockBackend {
        poison_step: Some(15),
        ..MockBackend::identity(10.0)
    };
    let mut d = denoiser(backend, DenoiseParams::default());
    let mut x = test_signal(30 * HOP_SIZE);
    for (k, v) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e20]
        .into_iter()
        .enumerate()
    {
        x[(12 + 3 * k) * HOP_SIZE + 17 * k] = v;
    }
    let n = steady_heap_events(&mut d, &x);
    assert_eq!(n, 0, "allocated or freed {n} times");
    assert_eq!(d.health().input.total(), 4);
    assert_eq!(d.health().resets, 1);
}

/// Runs `x` (whole hops) through `d` in blocks of `lens` hops (their sum: all of `x`).
fn run_blocks<B: Backend>(d: &mut Denoiser<B>, x: &[f32], lens: &[usize]) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    let mut at = 0;
    for &len in lens {
        let n = len * HOP_SIZE;
        d.process_block(&x[at..at + n], &mut y[at..at + n]).unwrap();
        at += n;
    }
    assert_eq!(at, x.len());
    y
}

#[test]
fn blocks_equal_hops_with_repairs_and_a_reset_inside_a_block() {
    // Bad samples and a poisoned model step (a NaN output hop) fall inside blocks; hop by hop and
    // block by block must give the same samples, the same counts and the same reset, the hops after
    // the reset running from the fresh state in both.
    let poisoned = 27;
    let backend = || MockBackend {
        poison_step: Some(poisoned),
        ..MockBackend::identity(10.0)
    };
    let mut x = test_signal(80 * HOP_SIZE);
    x[3 * HOP_SIZE + 5] = f32::NAN;
    x[26 * HOP_SIZE] = f32::INFINITY;
    x[40 * HOP_SIZE + 100] = 5e4;
    let params = DenoiseParams {
        post_filter: true,
        ..DenoiseParams::default()
    };
    let mut by_hop = denoiser(backend(), params);
    let want = run_hops(&mut by_hop, &x);
    let mut by_block = denoiser(backend(), params);
    let got = run_blocks(&mut by_block, &x, &[20, 32, 1, 27]);
    assert_eq!(got, want);
    assert_eq!(by_block.health(), by_hop.health());
    assert_eq!(by_block.health().resets, 1);
    assert_eq!(by_block.health().input.total(), 3);
    // The reset shows: hop 27 is silent, the one before is not.
    assert!(got[27 * HOP_SIZE..28 * HOP_SIZE].iter().all(|&v| v == 0.0));
    assert!(got[26 * HOP_SIZE..27 * HOP_SIZE].iter().any(|&v| v != 0.0));
}

#[test]
fn blocks_take_whole_hops_and_pass_backend_errors_on() {
    let mut d = denoiser(MockBackend::identity(10.0), DenoiseParams::default());
    let x = test_signal(2 * HOP_SIZE);
    let mut y = vec![0.0; 2 * HOP_SIZE];
    let err = d
        .process_block(&x[..HOP_SIZE + 1], &mut y[..HOP_SIZE + 1])
        .unwrap_err()
        .to_string();
    assert!(err.contains("whole hops of 480 samples"), "{err}");
    assert!(d.process_block(&x, &mut y[..HOP_SIZE]).is_err());
    d.process_block(&[], &mut []).unwrap();
    let failing = MockBackend {
        fail: true,
        ..MockBackend::identity(10.0)
    };
    let err = denoiser(failing, DenoiseParams::default())
        .process_block(&x, &mut y)
        .unwrap_err();
    assert!(matches!(err, Error::Backend(_)), "{err:?}");
}
