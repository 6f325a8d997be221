//! The tch backend against itself (sequence form == repeated steps) and against the native backend.
mod common;

use common::backend::{assert_close, random_features, run_steps};
use dfn4::backend::tch::TchBackend;
use dfn4::backend::{Backend, Features, ModelOutput, SeqModelOutput};
use dfn4::config::ModelConfig;
use dfn4::model::Weights;

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
