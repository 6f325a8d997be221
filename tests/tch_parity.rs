//! The tch backend against itself (sequence form == repeated steps) and against the native backend.
use dfn4::backend::tch::TchBackend;
use dfn4::backend::{Backend, Features, ModelOutput, SeqFeatures, SeqModelOutput};
use dfn4::config::ModelConfig;
use dfn4::model::Weights;
use rand::{Rng, SeedableRng};

/// Random features with the magnitudes the DSP produces (ERB features around 0, unit-norm complex).
fn random_features(cfg: &ModelConfig, batch: usize, frames: usize, seed: u64) -> SeqFeatures {
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

/// Runs `frames` steps of `backend` and returns outputs laid out like `run_sequence`'s.
fn run_steps<B: Backend>(backend: &B, feats: &SeqFeatures) -> SeqModelOutput {
    let cfg = backend.config().clone();
    let (b, t) = (feats.batch, feats.frames);
    let mut state = backend.new_state(b).unwrap();
    let mut seq = SeqModelOutput::zeros(&cfg, b, t);
    let mut frame = Features::zeros(&cfg, b);
    let mut out = ModelOutput::zeros(&cfg, b);
    let (ne, ns, nc) = (cfg.nb_erb, 2 * cfg.nb_df, cfg.df_out_dim());
    for ti in 0..t {
        for bi in 0..b {
            let i = bi * t + ti;
            frame.erb[bi * ne..(bi + 1) * ne].copy_from_slice(&feats.erb[i * ne..(i + 1) * ne]);
            frame.spec[bi * ns..(bi + 1) * ns].copy_from_slice(&feats.spec[i * ns..(i + 1) * ns]);
        }
        backend.step(&frame, &mut state, &mut out).unwrap();
        for bi in 0..b {
            let i = bi * t + ti;
            seq.gains[i * ne..(i + 1) * ne].copy_from_slice(&out.gains[bi * ne..(bi + 1) * ne]);
            seq.coefs[i * nc..(i + 1) * nc].copy_from_slice(&out.coefs[bi * nc..(bi + 1) * nc]);
            seq.lsnr_db[i] = out.lsnr_db[bi];
        }
    }
    seq
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn assert_close(what: &str, a: &SeqModelOutput, b: &SeqModelOutput, tol: f32) {
    let g = max_abs_diff(&a.gains, &b.gains);
    let c = max_abs_diff(&a.coefs, &b.coefs);
    // LSNR spans 50 dB; compare it relative to that range.
    let l = max_abs_diff(&a.lsnr_db, &b.lsnr_db) / 50.0;
    assert!(
        g < tol && c < tol && l < tol,
        "{what}: gains {g:e}, coefs {c:e}, lsnr/50 {l:e} (tol {tol:e})"
    );
}

#[test]
fn tch_sequence_equals_tch_steps() {
    let cfg = ModelConfig::default();
    let w = Weights::random(&cfg, 11);
    let tch = TchBackend::new(&w, tch::Device::Cpu).unwrap();
    assert_eq!(tch.name(), "tch-cpu");
    let feats = random_features(&cfg, 2, 37, 5);
    let mut seq = SeqModelOutput::zeros(&cfg, 2, 37);
    tch.run_sequence(&feats, &mut seq).unwrap();
    let steps = run_steps(&tch, &feats);
    assert_close("tch seq vs steps", &seq, &steps, 1e-5);
    // The outputs are not trivially constant.
    let spread = seq.gains.iter().cloned().fold(f32::MIN, f32::max)
        - seq.gains.iter().cloned().fold(f32::MAX, f32::min);
    assert!(spread > 1e-3, "gains barely vary: {spread}");
}

#[test]
fn reset_state_restarts_the_stream() {
    let cfg = ModelConfig::default();
    let tch = TchBackend::new(&Weights::random(&cfg, 2), tch::Device::Cpu).unwrap();
    let feats = random_features(&cfg, 1, 1, 9);
    let frame = Features {
        batch: 1,
        erb: feats.erb.clone(),
        spec: feats.spec.clone(),
    };
    let mut state = tch.new_state(1).unwrap();
    let mut first = ModelOutput::zeros(&cfg, 1);
    let mut again = ModelOutput::zeros(&cfg, 1);
    tch.step(&frame, &mut state, &mut first).unwrap();
    tch.step(&frame, &mut state, &mut again).unwrap();
    assert_ne!(first, again, "state must carry over between steps");
    tch.reset_state(&mut state);
    tch.step(&frame, &mut state, &mut again).unwrap();
    assert_eq!(first, again);
}

#[test]
fn rejects_wrong_sizes() {
    let cfg = ModelConfig::default();
    let tch = TchBackend::new(&Weights::random(&cfg, 2), tch::Device::Cpu).unwrap();
    let mut state = tch.new_state(2).unwrap();
    let mut out = ModelOutput::zeros(&cfg, 2);
    let mut feats = Features::zeros(&cfg, 2);
    feats.erb.pop();
    assert!(tch.step(&feats, &mut state, &mut out).is_err());
}

#[test]
fn tch_cpu_equals_native_sequence_and_steps() {
    use dfn4::backend::native::NativeBackend;
    let cfg = ModelConfig::default();
    for seed in [4u64, 21] {
        let w = Weights::random(&cfg, seed);
        let tch = TchBackend::new(&w, tch::Device::Cpu).unwrap();
        let native = NativeBackend::new(&w).unwrap();
        let feats = random_features(&cfg, 2, 41, seed + 100);
        let mut a = SeqModelOutput::zeros(&cfg, 2, 41);
        let mut b = SeqModelOutput::zeros(&cfg, 2, 41);
        tch.run_sequence(&feats, &mut a).unwrap();
        native.run_sequence(&feats, &mut b).unwrap();
        assert_close("tch vs native run_sequence", &a, &b, 1e-4);
        let ts = run_steps(&tch, &feats);
        let ns = run_steps(&native, &feats);
        assert_close("tch vs native steps", &ts, &ns, 1e-4);
    }
}
