//! Helpers shared by the backend parity tests (tch, CUDA graphs, MLX): seeded features, stepping a
//! backend frame by frame into the sequence layout, and max-difference comparisons of outputs.
use dfn4::backend::{Backend, Features, ModelOutput, SeqFeatures, SeqModelOutput};
use dfn4::config::ModelConfig;
use rand::{Rng, SeedableRng};

/// Random features with the magnitudes the DSP produces (ERB features around 0, unit-norm complex).
pub fn random_features(cfg: &ModelConfig, batch: usize, frames: usize, seed: u64) -> SeqFeatures {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut f = SeqFeatures::zeros(cfg, batch, frames);
    f.erb
        .iter_mut()
        .for_each(|x| *x = rng.random_range(-1.0..1.0));
    f.spec
        .iter_mut()
        .for_each(|x| *x = rng.random_range(-0.5..0.5));
    f
}

/// Frame `t` of every stream of `feats`.
pub fn frame(cfg: &ModelConfig, feats: &SeqFeatures, t: usize) -> Features {
    let (b, n) = (feats.batch, feats.frames);
    let mut f = Features::zeros(cfg, b);
    let (ne, ns) = (cfg.nb_erb, 2 * cfg.nb_df);
    for bi in 0..b {
        let i = bi * n + t;
        f.erb[bi * ne..(bi + 1) * ne].copy_from_slice(&feats.erb[i * ne..(i + 1) * ne]);
        f.spec[bi * ns..(bi + 1) * ns].copy_from_slice(&feats.spec[i * ns..(i + 1) * ns]);
    }
    f
}

/// Stores one step's output as frame `t` of `seq`.
pub fn store(cfg: &ModelConfig, out: &ModelOutput, seq: &mut SeqModelOutput, t: usize) {
    let (ne, nc) = (cfg.nb_erb, cfg.df_out_dim());
    for bi in 0..out.batch {
        let i = bi * seq.frames + t;
        seq.gains[i * ne..(i + 1) * ne].copy_from_slice(&out.gains[bi * ne..(bi + 1) * ne]);
        seq.coefs[i * nc..(i + 1) * nc].copy_from_slice(&out.coefs[bi * nc..(bi + 1) * nc]);
        seq.lsnr_db[i] = out.lsnr_db[bi];
    }
}

/// Steps `state` through every frame of `feats`, outputs laid out like `run_sequence`'s.
pub fn run_steps_with<B: Backend>(
    backend: &B,
    state: &mut B::State,
    feats: &SeqFeatures,
) -> SeqModelOutput {
    let cfg = backend.config().clone();
    let mut seq = SeqModelOutput::zeros(&cfg, feats.batch, feats.frames);
    let mut out = ModelOutput::zeros(&cfg, feats.batch);
    for t in 0..feats.frames {
        backend
            .step(&frame(&cfg, feats, t), state, &mut out)
            .unwrap();
        store(&cfg, &out, &mut seq, t);
    }
    seq
}

/// [`run_steps_with`] from a fresh state.
pub fn run_steps<B: Backend>(backend: &B, feats: &SeqFeatures) -> SeqModelOutput {
    let mut state = backend.new_state(feats.batch).unwrap();
    run_steps_with(backend, &mut state, feats)
}

/// `run_sequence` of `backend` on `feats`.
pub fn run_seq<B: Backend>(backend: &B, feats: &SeqFeatures) -> SeqModelOutput {
    let mut out = SeqModelOutput::zeros(backend.config(), feats.batch, feats.frames);
    backend.run_sequence(feats, &mut out).unwrap();
    out
}

/// Largest absolute difference of two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Largest differences of gains, coefs and LSNR/50 (LSNR spans 50 dB: compared relative to that range).
pub fn diffs(a: &SeqModelOutput, b: &SeqModelOutput) -> [f32; 3] {
    [
        max_abs_diff(&a.gains, &b.gains),
        max_abs_diff(&a.coefs, &b.coefs),
        max_abs_diff(&a.lsnr_db, &b.lsnr_db) / 50.0,
    ]
}

/// Asserts that every difference of [`diffs`] is below `tol` (and prints them).
pub fn assert_close(what: &str, a: &SeqModelOutput, b: &SeqModelOutput, tol: f32) {
    let [g, c, l] = diffs(a, b);
    println!("{what}: max |diff| gains {g:.2e}, coefs {c:.2e}, lsnr/50 {l:.2e}");
    assert!(
        g < tol && c < tol && l < tol,
        "{what}: gains {g:e}, coefs {c:e}, lsnr/50 {l:e} (tol {tol:e})"
    );
}
