//! Native backend against a straightforward f64 transcription of models/README.md, plus the streaming
//! contract: `run_sequence` and `step_block` equal repeated `step`, `reset_state` restores the fresh
//! state, outputs stay in range, and `step` (and `step_block` once reserved) does not allocate.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use dfn4::backend::native::{NativeBackend, NativeState, WeightPrecision};
use dfn4::backend::{Backend, Features, ModelOutput, SeqFeatures, SeqModelOutput};
use dfn4::config::ModelConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[path = "native_backend/reference.rs"]
mod reference;

/// Counts allocations made by the current thread while counting is switched on (tests run in parallel
/// threads, so a global count would see the other tests).
struct CountingAlloc;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc() {
    if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
    }
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_sync::<NativeBackend>();
    send::<NativeState>();
};

fn backend(seed: u64) -> (ModelConfig, NativeBackend) {
    let cfg = ModelConfig::default();
    let w = reference::perturbed_weights(&cfg, seed);
    let b = NativeBackend::new(&w).expect("valid weights");
    (cfg, b)
}

fn random_seq(
    cfg: &ModelConfig,
    batch: usize,
    frames: usize,
    scale: f32,
    seed: u64,
) -> SeqFeatures {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut f = SeqFeatures::zeros(cfg, batch, frames);
    f.erb
        .iter_mut()
        .for_each(|v| *v = rng.random_range(-scale..scale));
    f.spec
        .iter_mut()
        .for_each(|v| *v = rng.random_range(-scale..scale));
    f
}

/// Frame `t` of every stream of a sequence, as step input.
fn frame_of(cfg: &ModelConfig, seq: &SeqFeatures, t: usize) -> Features {
    let (e, s) = (cfg.nb_erb, 2 * cfg.nb_df);
    let mut f = Features::zeros(cfg, seq.batch);
    for b in 0..seq.batch {
        let src = b * seq.frames + t;
        f.erb[b * e..(b + 1) * e].copy_from_slice(&seq.erb[src * e..(src + 1) * e]);
        f.spec[b * s..(b + 1) * s].copy_from_slice(&seq.spec[src * s..(src + 1) * s]);
    }
    f
}

/// Steps through a sequence, collecting outputs in the sequence layout.
fn step_all(be: &NativeBackend, st: &mut NativeState, seq: &SeqFeatures) -> SeqModelOutput {
    let cfg = be.config();
    let (e, c) = (cfg.nb_erb, cfg.df_out_dim());
    let mut out = SeqModelOutput::zeros(cfg, seq.batch, seq.frames);
    let mut o = ModelOutput::zeros(cfg, seq.batch);
    for t in 0..seq.frames {
        be.step(&frame_of(cfg, seq, t), st, &mut o).unwrap();
        for b in 0..seq.batch {
            let dst = b * seq.frames + t;
            out.gains[dst * e..(dst + 1) * e].copy_from_slice(&o.gains[b * e..(b + 1) * e]);
            out.coefs[dst * c..(dst + 1) * c].copy_from_slice(&o.coefs[b * c..(b + 1) * c]);
            out.lsnr_db[dst] = o.lsnr_db[b];
        }
    }
    out
}

/// max |a − b| / max |b|.
fn rel_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let max_abs = b.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    let diff = a
        .iter()
        .zip(b)
        .fold(0f64, |m, (x, y)| m.max((*x as f64 - *y as f64).abs()));
    diff / max_abs.max(1e-30)
}

#[test]
fn steps_equal_run_sequence() {
    let (cfg, be) = backend(11);
    let seq = random_seq(&cfg, 2, 50, 1.0, 1);
    let mut whole = SeqModelOutput::zeros(&cfg, 2, 50);
    be.run_sequence(&seq, &mut whole).unwrap();
    let mut st = be.new_state(2).unwrap();
    let stepped = step_all(&be, &mut st, &seq);
    for (name, a, b) in [
        ("gains", &stepped.gains, &whole.gains),
        ("coefs", &stepped.coefs, &whole.coefs),
        ("lsnr", &stepped.lsnr_db, &whole.lsnr_db),
    ] {
        let d = rel_diff(a, b);
        assert!(d <= 1e-5, "{name}: relative difference {d}");
    }
}

/// Runs `precision` against `f32` on the same weights and input: returns the relative difference of
/// (gains, coefs, lsnr) from the `f32` outputs, after checking that its steps equal its own
/// `run_sequence`.
fn reduced_precision_vs_f32(precision: WeightPrecision, name: &str) -> [f64; 3] {
    let cfg = ModelConfig::default();
    let w = reference::perturbed_weights(&cfg, 13);
    let exact_be = NativeBackend::new(&w).unwrap();
    let low_be = NativeBackend::with_precision(&w, precision).unwrap();
    assert_eq!((exact_be.name(), low_be.name()), ("native", name));
    let seq = random_seq(&cfg, 2, 50, 1.0, 3);
    let mut exact = SeqModelOutput::zeros(&cfg, 2, 50);
    let mut low = SeqModelOutput::zeros(&cfg, 2, 50);
    exact_be.run_sequence(&seq, &mut exact).unwrap();
    low_be.run_sequence(&seq, &mut low).unwrap();
    let mut st = low_be.new_state(2).unwrap();
    let stepped = step_all(&low_be, &mut st, &seq);
    [
        ("gains", &low.gains, &exact.gains, &stepped.gains),
        ("coefs", &low.coefs, &exact.coefs, &stepped.coefs),
        ("lsnr", &low.lsnr_db, &exact.lsnr_db, &stepped.lsnr_db),
    ]
    .map(|(what, l, e, s)| {
        let d = rel_diff(s, l);
        assert!(d <= 1e-5, "{what}: {name} steps vs run_sequence {d}");
        rel_diff(l, e)
    })
}

#[test]
fn half_float_weights_stay_close_to_f32_and_stream_like_run_sequence() {
    // Half-float weights (2^-11 relative rounding) through 50 recurrent frames: measured 5.6e-6
    // (gains), 2.7e-4 (coefs), 8.3e-5 (lsnr); a wrong kernel would be far off, f32 weights by
    // mistake exactly 0.
    for (what, d) in ["gains", "coefs", "lsnr"]
        .into_iter()
        .zip(reduced_precision_vs_f32(WeightPrecision::F16, "native-f16"))
    {
        assert!(
            d > 0.0 && d < 2e-3,
            "{what}: f16 vs f32 relative difference {d}"
        );
    }
}

#[test]
fn int8_weights_stay_close_to_f32_and_stream_like_run_sequence() {
    // 8-bit dense weights with per-row scales and 8-bit activations with per-64 scales, and 8-bit
    // convolutions (weights per output channel, input per call; each value at most half a step off)
    // through 50 recurrent frames of random weights: measured 2.4e-3 (gains), 1.5e-2 (coefs), 5.5e-3
    // (lsnr), against 3.7e-4, 1.6e-2 and 6.2e-3 with `f32` convolutions; a wrong kernel or scale
    // would be far off, f32 by mistake exactly 0.
    for (what, d) in ["gains", "coefs", "lsnr"]
        .into_iter()
        .zip(reduced_precision_vs_f32(WeightPrecision::I8, "native-i8"))
    {
        assert!(
            d > 0.0 && d < 3e-2,
            "{what}: i8 vs f32 relative difference {d}"
        );
    }
}

#[test]
fn matches_naive_f64_reference_over_several_frames() {
    let (cfg, be) = backend(5);
    let w = reference::perturbed_weights(&cfg, 5);
    let seq = random_seq(&cfg, 1, 8, 1.0, 2);
    let mut out = SeqModelOutput::zeros(&cfg, 1, 8);
    be.run_sequence(&seq, &mut out).unwrap();
    let mut rs = reference::RefState::new(&cfg);
    let (e, s, c) = (cfg.nb_erb, 2 * cfg.nb_df, cfg.df_out_dim());
    for t in 0..8 {
        let (g, k, l) = reference::frame(
            &w,
            &seq.erb[t * e..(t + 1) * e],
            &seq.spec[t * s..(t + 1) * s],
            &mut rs,
        );
        let g32: Vec<f32> = g.iter().map(|v| *v as f32).collect();
        let k32: Vec<f32> = k.iter().map(|v| *v as f32).collect();
        let dg = rel_diff(&out.gains[t * e..(t + 1) * e], &g32);
        let dk = rel_diff(&out.coefs[t * c..(t + 1) * c], &k32);
        let dl = (out.lsnr_db[t] as f64 - l).abs();
        assert!(
            dg < 2e-6 && dk < 2e-6 && dl < 2e-5,
            "frame {t}: {dg} {dk} {dl}"
        );
    }
}

#[test]
fn reset_restores_fresh_state_exactly() {
    let (cfg, be) = backend(3);
    let warm = random_seq(&cfg, 2, 20, 1.0, 3);
    let probe = random_seq(&cfg, 2, 10, 1.0, 4);
    let mut fresh = be.new_state(2).unwrap();
    let want = step_all(&be, &mut fresh, &probe);
    let mut st = be.new_state(2).unwrap();
    let warmed = step_all(&be, &mut st, &warm);
    assert_ne!(warmed.gains[..cfg.nb_erb], want.gains[..cfg.nb_erb]);
    be.reset_state(&mut st);
    assert_eq!(step_all(&be, &mut st, &probe), want);
}

#[test]
fn the_lsnr_head_reads_the_embedding() {
    // The head refitted on `NativeState::embedding` (examples/lsnr_probe.rs) runs in the engines
    // unchanged only if the embedding is exactly what `dec.lsnr_fc` reads.
    let (cfg, be) = backend(12);
    let w = reference::perturbed_weights(&cfg, 12);
    let (fc, bias) = (
        &w.get("dec.lsnr_fc.weight").unwrap().data,
        w.get("dec.lsnr_fc.bias").unwrap().data[0],
    );
    let seq = random_seq(&cfg, 2, 5, 1.0, 12);
    let mut st = be.new_state(2).unwrap();
    let mut out = ModelOutput::zeros(&cfg, 2);
    for t in 0..seq.frames {
        be.step(&frame_of(&cfg, &seq, t), &mut st, &mut out)
            .unwrap();
        let emb = st.embedding();
        assert_eq!(emb.len(), 2 * cfg.d_model);
        for (b, x) in emb.chunks_exact(cfg.d_model).enumerate() {
            let z: f64 = fc
                .iter()
                .zip(x)
                .map(|(w, v)| f64::from(*w) * f64::from(*v))
                .sum();
            let lsnr_db = 50.0 / (1.0 + (-(z + f64::from(bias))).exp()) - 15.0;
            assert!(
                (lsnr_db - f64::from(out.lsnr_db[b])).abs() < 1e-3,
                "{lsnr_db} vs {}",
                out.lsnr_db[b]
            );
        }
    }
}

#[test]
fn outputs_stay_in_range() {
    let (cfg, be) = backend(8);
    let seq = random_seq(&cfg, 2, 100, 1.0, 5);
    let mut out = SeqModelOutput::zeros(&cfg, 2, 100);
    be.run_sequence(&seq, &mut out).unwrap();
    assert!(out.gains.iter().all(|g| *g > 0.0 && *g < 1.0));
    assert!(out.coefs.iter().all(|c| (-1.0..=1.0).contains(c)));
    assert!(out.lsnr_db.iter().all(|l| (-15.0..=35.0).contains(l)));
    // Extreme inputs saturate the activations: the closed ranges still hold and nothing is NaN.
    let seq = random_seq(&cfg, 2, 30, 1e4, 6);
    let mut out = SeqModelOutput::zeros(&cfg, 2, 30);
    be.run_sequence(&seq, &mut out).unwrap();
    assert!(out.gains.iter().all(|g| (0.0..=1.0).contains(g)));
    assert!(out.coefs.iter().all(|c| (-1.0..=1.0).contains(c)));
    assert!(out.lsnr_db.iter().all(|l| (-15.0..=35.0).contains(l)));
}

#[test]
fn step_does_not_allocate() {
    let (cfg, exact) = backend(9);
    let w = reference::perturbed_weights(&cfg, 9);
    let half = NativeBackend::with_precision(&w, WeightPrecision::F16).unwrap();
    let int8 = NativeBackend::with_precision(&w, WeightPrecision::I8).unwrap();
    for be in [exact, half, int8] {
        step_does_not_allocate_on(&cfg, &be);
    }
}

fn step_does_not_allocate_on(cfg: &ModelConfig, be: &NativeBackend) {
    let seq = random_seq(cfg, 2, 101, 1.0, 7);
    let frames: Vec<Features> = (0..101).map(|t| frame_of(cfg, &seq, t)).collect();
    let mut st = be.new_state(2).unwrap();
    let mut out = ModelOutput::zeros(cfg, 2);
    be.step(&frames[0], &mut st, &mut out).unwrap();
    // The counter must see an allocation of this thread, or a zero below would prove nothing.
    COUNTING.with(|c| c.set(true));
    drop(std::hint::black_box(vec![0u8; 16]));
    COUNTING.with(|c| c.set(false));
    assert_eq!(ALLOCS.with(|n| n.replace(0)), 1);
    COUNTING.with(|c| c.set(true));
    for f in &frames[1..] {
        be.step(f, &mut st, &mut out).unwrap();
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(ALLOCS.with(|n| n.get()), 0);
}

/// Frames `t0..t1` of a one-stream sequence.
fn frames_of(cfg: &ModelConfig, seq: &SeqFeatures, t0: usize, t1: usize) -> SeqFeatures {
    let (e, s) = (cfg.nb_erb, 2 * cfg.nb_df);
    SeqFeatures {
        batch: 1,
        frames: t1 - t0,
        erb: seq.erb[t0 * e..t1 * e].to_vec(),
        spec: seq.spec[t0 * s..t1 * s].to_vec(),
    }
}

/// Runs a one-stream sequence through `step_block` in blocks of `lens` frames (their sum: all of it),
/// the state carried from block to block; the outputs in the sequence layout.
fn step_blocks<B: Backend>(
    be: &B,
    st: &mut B::State,
    seq: &SeqFeatures,
    lens: &[usize],
) -> SeqModelOutput {
    let cfg = be.config();
    let (e, c) = (cfg.nb_erb, cfg.df_out_dim());
    let mut all = SeqModelOutput::zeros(cfg, 1, seq.frames);
    let mut t0 = 0;
    for &len in lens {
        let mut out = SeqModelOutput::zeros(cfg, 1, len);
        be.step_block(&frames_of(cfg, seq, t0, t0 + len), st, &mut out)
            .unwrap();
        all.gains[t0 * e..(t0 + len) * e].copy_from_slice(&out.gains);
        all.coefs[t0 * c..(t0 + len) * c].copy_from_slice(&out.coefs);
        all.lsnr_db[t0..t0 + len].copy_from_slice(&out.lsnr_db);
        t0 += len;
    }
    assert_eq!(t0, seq.frames);
    all
}

/// The native engine without its own `step_block`: the trait's default, a loop over `step`.
struct StepOnly(NativeBackend);

impl Backend for StepOnly {
    type State = NativeState;
    fn name(&self) -> &'static str {
        "step-only"
    }
    fn config(&self) -> &ModelConfig {
        self.0.config()
    }
    fn new_state(&self, batch: usize) -> dfn4::Result<NativeState> {
        self.0.new_state(batch)
    }
    fn reset_state(&self, state: &mut NativeState) {
        self.0.reset_state(state)
    }
    fn step(
        &self,
        feats: &Features,
        state: &mut NativeState,
        out: &mut ModelOutput,
    ) -> dfn4::Result<()> {
        self.0.step(feats, state, out)
    }
    fn run_sequence(&self, feats: &SeqFeatures, out: &mut SeqModelOutput) -> dfn4::Result<()> {
        self.0.run_sequence(feats, out)
    }
}

#[test]
fn step_block_equals_steps_with_the_state_carried_for_every_precision() {
    // Blocks longer than the engine's internal piece (32 frames), a single frame, and a final partial
    // block, after 5 single steps: the state passes step → block → block → block and back to a step.
    let cfg = ModelConfig::default();
    let w = reference::perturbed_weights(&cfg, 17);
    let seq = random_seq(&cfg, 1, 96, 1.0, 4);
    for precision in [
        WeightPrecision::F32,
        WeightPrecision::F16,
        WeightPrecision::I8,
    ] {
        let be = NativeBackend::with_precision(&w, precision).unwrap();
        let mut st = be.new_state(1).unwrap();
        let stepped = step_all(&be, &mut st, &seq);

        let mut st = be.new_state(1).unwrap();
        let head = step_all(&be, &mut st, &frames_of(&cfg, &seq, 0, 5));
        let blocks = step_blocks(&be, &mut st, &frames_of(&cfg, &seq, 5, 95), &[70, 1, 19]);
        let tail = step_all(&be, &mut st, &frames_of(&cfg, &seq, 95, 96));
        let joined = |f: fn(&SeqModelOutput) -> &Vec<f32>| -> Vec<f32> {
            [f(&head).as_slice(), f(&blocks), f(&tail)].concat()
        };
        for (what, a, b) in [
            ("gains", joined(|o| &o.gains), &stepped.gains),
            ("coefs", joined(|o| &o.coefs), &stepped.coefs),
            ("lsnr", joined(|o| &o.lsnr_db), &stepped.lsnr_db),
        ] {
            let d = rel_diff(&a, b);
            assert!(d <= 1e-5, "{}: {what} blocks vs steps {d}", be.name());
        }

        // The trait's default (a loop over `step`) agrees with the engine's own blocks.
        let default = StepOnly(NativeBackend::with_precision(&w, precision).unwrap());
        let mut st = default.new_state(1).unwrap();
        let looped = step_blocks(&default, &mut st, &seq, &[40, 56]);
        assert!(rel_diff(&looped.coefs, &stepped.coefs) <= 1e-5);
        assert!(rel_diff(&looped.lsnr_db, &stepped.lsnr_db) <= 1e-5);
    }
}

#[test]
fn step_block_takes_one_stream_and_does_not_allocate_once_reserved() {
    let (cfg, be) = backend(19);
    let seq = random_seq(&cfg, 1, 64, 1.0, 8);
    let mut wide = be.new_state(2).unwrap();
    let mut out = SeqModelOutput::zeros(&cfg, 1, 64);
    let err = be
        .step_block(&seq, &mut wide, &mut out)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a block is one stream, the state has 2"),
        "{err}"
    );
    let two = random_seq(&cfg, 2, 8, 1.0, 8);
    let mut st = be.new_state(1).unwrap();
    let err = be
        .step_block(&two, &mut st, &mut SeqModelOutput::zeros(&cfg, 2, 8))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a block is one stream, the features have 2"),
        "{err}"
    );

    be.reserve_block(&mut st, 64).unwrap();
    COUNTING.with(|c| c.set(true));
    drop(std::hint::black_box(vec![0u8; 16]));
    COUNTING.with(|c| c.set(false));
    assert_eq!(ALLOCS.with(|n| n.replace(0)), 1);
    COUNTING.with(|c| c.set(true));
    be.step_block(&seq, &mut st, &mut out).unwrap();
    be.step_block(&seq, &mut st, &mut out).unwrap();
    COUNTING.with(|c| c.set(false));
    assert_eq!(ALLOCS.with(|n| n.get()), 0);
}

#[test]
fn rejects_mismatched_shapes() {
    let (cfg, be) = backend(1);
    let mut st = be.new_state(2).unwrap();
    let mut out = ModelOutput::zeros(&cfg, 2);
    assert!(be
        .step(&Features::zeros(&cfg, 1), &mut st, &mut out)
        .is_err());
    let mut short = Features::zeros(&cfg, 2);
    short.erb.pop();
    assert!(be.step(&short, &mut st, &mut out).is_err());
    let mut seq_out = SeqModelOutput::zeros(&cfg, 1, 4);
    assert!(be
        .run_sequence(&SeqFeatures::zeros(&cfg, 1, 5), &mut seq_out)
        .is_err());
    assert!(be.new_state(0).is_err());
    assert_eq!(be.name(), "native");
}
