//! The MLX backend (mlx-cpu) against itself (sequence form == repeated steps, compiled == eager) and
//! against the native backend, on seeded random weights and on the shipped trained weights with real
//! speech features.
use std::path::Path;

mod common;

use common::backend::{assert_close, max_abs_diff, random_features, run_seq, run_steps};
use dfn4::backend::mlx::{MlxBackend, MlxDevice};
use dfn4::backend::native::NativeBackend;
use dfn4::backend::{Backend, Features, ModelOutput, SeqFeatures, SeqModelOutput};
use dfn4::config::ModelConfig;
use dfn4::model::Weights;

/// The first `frames` frames of the real noisy recording in `assets/`, through the streaming DSP.
fn speech_features(cfg: &ModelConfig, frames: usize) -> SeqFeatures {
    let wav = dfn4::audio_io::read_wav(Path::new("assets/noisy_speech.wav")).unwrap();
    assert_eq!(wav.sample_rate_hz, 48_000);
    let sig = dfn4::dsp::features::analyze_signal(&wav.channels[0]);
    let t = frames.min(sig.frames);
    let mut f = SeqFeatures::zeros(cfg, 1, t);
    f.erb.copy_from_slice(&sig.erb[..t * cfg.nb_erb]);
    f.spec.copy_from_slice(&sig.cplx[..t * 2 * cfg.nb_df]);
    f
}

fn mlx_cpu(w: &Weights) -> MlxBackend {
    MlxBackend::new(w, MlxDevice::Cpu).unwrap()
}

#[test]
fn mlx_sequence_equals_mlx_steps() {
    let cfg = ModelConfig::default();
    let mlx = mlx_cpu(&Weights::random(&cfg, 11));
    assert_eq!(mlx.name(), "mlx-cpu");
    // 37 frames: the two-level scan with a padded last chunk.
    let feats = random_features(&cfg, 2, 37, 5);
    let seq = run_seq(&mlx, &feats);
    let steps = run_steps(&mlx, &feats);
    assert_close("mlx seq vs steps", &seq, &steps, 1e-5);
    // The outputs are not trivially constant.
    let spread = seq.gains.iter().cloned().fold(f32::MIN, f32::max)
        - seq.gains.iter().cloned().fold(f32::MAX, f32::min);
    assert!(spread > 1e-3, "gains barely vary: {spread}");
}

#[test]
fn mlx_cpu_equals_native_random_weights() {
    let cfg = ModelConfig::default();
    for seed in [4u64, 21] {
        let w = Weights::random(&cfg, seed);
        let mlx = mlx_cpu(&w);
        let native = NativeBackend::new(&w).unwrap();
        let feats = random_features(&cfg, 2, 41, seed + 100);
        assert_close(
            "mlx-cpu vs native run_sequence",
            &run_seq(&mlx, &feats),
            &run_seq(&native, &feats),
            1e-4,
        );
        assert_close(
            "mlx-cpu vs native steps",
            &run_steps(&mlx, &feats),
            &run_steps(&native, &feats),
            1e-4,
        );
    }
}

#[test]
fn mlx_cpu_equals_native_trained_weights_on_speech() {
    let w = Weights::load(Path::new("models/dfn4.safetensors")).unwrap();
    let cfg = w.config().clone();
    let mlx = mlx_cpu(&w);
    let native = NativeBackend::new(&w).unwrap();
    // 1.5 s of the real noisy recording: speech onset, the scan over 19 chunks.
    let feats = speech_features(&cfg, 150);
    assert_eq!(feats.frames, 150);
    assert_close(
        "trained: mlx-cpu vs native run_sequence",
        &run_seq(&mlx, &feats),
        &run_seq(&native, &feats),
        1e-4,
    );
    assert_close(
        "trained: mlx-cpu vs native steps",
        &run_steps(&mlx, &feats),
        &run_steps(&native, &feats),
        1e-4,
    );
}

#[test]
fn compiled_equals_eager() {
    let cfg = ModelConfig::default();
    let w = Weights::random(&cfg, 8);
    let compiled = mlx_cpu(&w);
    let eager = MlxBackend::with_compile(&w, MlxDevice::Cpu, false).unwrap();
    let feats = random_features(&cfg, 1, 20, 3);
    assert_close(
        "compiled vs eager seq",
        &run_seq(&compiled, &feats),
        &run_seq(&eager, &feats),
        1e-5,
    );
    assert_close(
        "compiled vs eager steps",
        &run_steps(&compiled, &feats),
        &run_steps(&eager, &feats),
        1e-5,
    );
}

#[test]
fn two_backends_keep_their_own_weights() {
    // Compiled graphs are cached per backend: a second backend must not reuse the first one's trace.
    let cfg = ModelConfig::default();
    let (wa, wb) = (Weights::random(&cfg, 1), Weights::random(&cfg, 2));
    let (a, b) = (mlx_cpu(&wa), mlx_cpu(&wb));
    let feats = random_features(&cfg, 1, 5, 7);
    let (oa, ob) = (run_steps(&a, &feats), run_steps(&b, &feats));
    let na = run_steps(&NativeBackend::new(&wa).unwrap(), &feats);
    let nb = run_steps(&NativeBackend::new(&wb).unwrap(), &feats);
    assert_close("backend a", &oa, &na, 1e-4);
    assert_close("backend b", &ob, &nb, 1e-4);
}

#[test]
fn reset_state_restarts_the_stream() {
    let cfg = ModelConfig::default();
    let mlx = mlx_cpu(&Weights::random(&cfg, 2));
    let feats = random_features(&cfg, 1, 1, 9);
    let frame = Features {
        batch: 1,
        erb: feats.erb.clone(),
        spec: feats.spec.clone(),
    };
    let mut state = mlx.new_state(1).unwrap();
    let mut first = ModelOutput::zeros(&cfg, 1);
    let mut again = ModelOutput::zeros(&cfg, 1);
    mlx.step(&frame, &mut state, &mut first).unwrap();
    mlx.step(&frame, &mut state, &mut again).unwrap();
    assert_ne!(first, again, "state must carry over between steps");
    mlx.reset_state(&mut state);
    mlx.step(&frame, &mut state, &mut again).unwrap();
    assert_eq!(first, again);
}

#[test]
fn rejects_wrong_sizes() {
    let cfg = ModelConfig::default();
    let mlx = mlx_cpu(&Weights::random(&cfg, 2));
    let mut state = mlx.new_state(2).unwrap();
    let mut out = ModelOutput::zeros(&cfg, 2);
    let mut feats = Features::zeros(&cfg, 2);
    feats.erb.pop();
    let err = mlx.step(&feats, &mut state, &mut out).unwrap_err();
    assert!(err.to_string().contains("erb features"), "{err}");
    let mut one = ModelOutput::zeros(&cfg, 1);
    assert!(mlx
        .step(&Features::zeros(&cfg, 2), &mut state, &mut one)
        .is_err());
    let seq = SeqFeatures::zeros(&cfg, 1, 3);
    let mut wrong = SeqModelOutput::zeros(&cfg, 1, 4);
    assert!(mlx.run_sequence(&seq, &mut wrong).is_err());
}

/// Writes the first `samples` samples of the real noisy recording as a 32-bit float WAV.
fn write_excerpt(path: &Path, samples: usize) {
    let wav = dfn4::audio_io::read_wav(Path::new("assets/noisy_speech.wav")).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in &wav.channels[0][..samples] {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn enhance_with_mlx_cpu_equals_native() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.wav");
    write_excerpt(&input, 48_000);
    let run = |backend: &str| {
        let out = dir.path().join(format!("{backend}.wav"));
        assert_cmd::Command::cargo_bin("dfn4")
            .unwrap()
            // MLX compiles CPU kernels into a shared cache under the temp folder and writes each library
            // in place, so a process that loads one while this test binary's other threads are still
            // writing it reads a short file ("file too short", seen in CI). Its own cache folder here.
            .env("TMPDIR", dir.path())
            .args(["enhance", "--backend", backend])
            .arg(&input)
            .arg(&out)
            .assert()
            .success();
        dfn4::audio_io::read_wav(&out).unwrap().channels.remove(0)
    };
    let (mlx, native) = (run("mlx-cpu"), run("native"));
    assert_eq!(mlx.len(), 48_000);
    let diff = max_abs_diff(&mlx, &native);
    let level = native.iter().map(|x| x.abs()).fold(0.0, f32::max);
    println!("enhance mlx-cpu vs native: max |diff| {diff:.2e} (peak {level:.2})");
    assert!(level > 0.01, "native output is silent");
    assert!(diff < 1e-4, "mlx-cpu and native outputs differ by {diff:e}");
}
