//! Replays the committed fuzz corpora (fuzz/corpus/<target>/) through the fuzz targets' checks, so every
//! past finding and every seed stays a regression test in a plain `cargo test` (no nightly, no
//! cargo-fuzz). `regenerate_fuzz_seeds` (ignored) writes the hand-made seeds the corpora started from.
#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

use dfn4::audio_io::wav::{write_wav_atomic, SampleFormat};
use dfn4::config::ModelConfig;
use dfn4::model::Weights;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Runs `check` on every input of the corpus; returns how many returned true.
fn replay(target: &str, check: fn(&[u8]) -> bool) -> usize {
    let mut n = 0;
    let mut passed = 0;
    for entry in std::fs::read_dir(corpus(target)).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| check(&bytes));
        assert!(
            result.is_ok(),
            "{} fails the {target} check",
            path.display()
        );
        passed += usize::from(result.unwrap());
        n += 1;
    }
    assert!(n >= 4, "only {n} inputs in the {target} corpus");
    passed
}

#[test]
fn wav_reader_corpus() {
    replay("wav_reader", |b| {
        checks::wav_reader(b);
        true
    });
}

#[test]
fn weights_loader_corpus() {
    // The tiny-model seeds load, build the native backend and run hops.
    let reached_backend = replay("weights_loader", checks::weights_loader);
    assert!(
        reached_backend >= 2,
        "{reached_backend} inputs reach the backend"
    );
}

/// The smallest model the signal path accepts (ERB bands and DF bins are fixed): a few thousand
/// parameters, so a valid weights file is a few KB and the fuzzer can reach the backend.
fn tiny_config() -> ModelConfig {
    ModelConfig {
        conv_ch: 1,
        d_model: 2,
        n_layers: 1,
        d_state: 1,
        d_conv: 2,
        expand: 1,
        dt_rank: 1,
        df_hidden: 1,
        df_order: 2,
        df_lookahead: 1,
        ..ModelConfig::default()
    }
}

/// `[json length: u16 LE][json][safetensors]`, the weights_loader input layout.
fn weights_input(json: &str, safetensors: &[u8]) -> Vec<u8> {
    let mut v = u16::try_from(json.len()).unwrap().to_le_bytes().to_vec();
    v.extend_from_slice(json.as_bytes());
    v.extend_from_slice(safetensors);
    v
}

#[test]
#[ignore = "writes the initial seeds into fuzz/corpus; run by hand"]
fn regenerate_fuzz_seeds() {
    let wav_dir = corpus("wav_reader");
    std::fs::create_dir_all(&wav_dir).unwrap();
    let tone =
        |n: usize, k: f32| -> Vec<f32> { (0..n).map(|i| (i as f32 * k).sin() * 0.9).collect() };
    let cases: [(&str, SampleFormat, usize); 6] = [
        ("i16-mono", SampleFormat::I16, 1),
        ("i24-mono", SampleFormat::I24, 1),
        ("i32-stereo", SampleFormat::I32, 2),
        ("f32-mono", SampleFormat::F32, 1),
        ("f32-stereo", SampleFormat::F32, 2),
        // hound writes WAVE_FORMAT_EXTENSIBLE for more than two channels.
        ("i16-3ch-extensible", SampleFormat::I16, 3),
    ];
    for (name, format, nb_channels) in cases {
        let mut chans: Vec<Vec<f32>> = (0..nb_channels).map(|c| tone(12, 0.3 + c as f32)).collect();
        if format == SampleFormat::F32 {
            chans[0][3] = f32::NAN;
            chans[0][4] = f32::INFINITY;
        }
        write_wav_atomic(
            &wav_dir.join(format!("seed-{name}.wav")),
            16_000,
            format,
            &chans,
        )
        .unwrap();
    }

    let dir = corpus("weights_loader");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = tiny_config();
    let tiny = Weights::random(&cfg, 1).to_safetensors_bytes().unwrap();
    let json = serde_json::json!({ "model": cfg }).to_string();
    std::fs::write(dir.join("seed-tiny"), weights_input(&json, &tiny)).unwrap();
    // The same config at the top level, as `config_from_json` also accepts.
    let flat = serde_json::to_string(&cfg).unwrap();
    std::fs::write(dir.join("seed-tiny-flat"), weights_input(&flat, &tiny)).unwrap();
    // No config: the default one, which these tiny tensors do not fit.
    std::fs::write(dir.join("seed-default-config"), weights_input("", &tiny)).unwrap();
    let shipped = include_str!("../models/dfn4.json");
    std::fs::write(
        dir.join("seed-shipped-config"),
        weights_input(shipped, &tiny[..64]),
    )
    .unwrap();
}
