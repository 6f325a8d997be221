//! Replays the committed fuzz corpora (fuzz/corpus/<target>/) through the fuzz targets' checks, so every
//! past finding and every seed stays a regression test in a plain `cargo test` (no nightly, no
//! cargo-fuzz). `regenerate_fuzz_seeds` (ignored) writes the hand-made seeds the corpora started from.
#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

use checks::input::Seed;
use dfn4::audio_io::wav::{write_wav_atomic, SampleFormat};
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

#[test]
fn denoiser_input_corpus() {
    // The seeds of every mode reach the denoiser (hops, whole channels, chunked streams).
    let processed = replay("denoiser_input", checks::denoiser_input);
    assert!(processed >= 6, "{processed} inputs reach the denoiser");
}

/// `[json length: u16 LE][json][safetensors]`, the weights_loader input layout.
fn weights_input(json: &str, safetensors: &[u8]) -> Vec<u8> {
    let mut v = u16::try_from(json.len()).unwrap().to_le_bytes().to_vec();
    v.extend_from_slice(json.as_bytes());
    v.extend_from_slice(safetensors);
    v
}

#[test]
fn audio_decoder_corpus() {
    // The seeds from tests/data/formats: the three small lossy files decode to the end, the cut ones
    // stop with a clean error.
    let decoded = replay("audio_decoder", checks::audio_decoder);
    assert!(decoded >= 3, "{decoded} inputs decode to the end");
}

#[test]
#[ignore = "writes the initial seeds into fuzz/corpus; run by hand"]
fn regenerate_audio_decoder_seeds() {
    let dir = corpus("audio_decoder");
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats");
    for name in [
        "speech.flac",
        "speech.mp3",
        "speech.ogg",
        "speech.m4a",
        "speech_alac.m4a",
        "speech24_stereo.flac",
    ] {
        let bytes = std::fs::read(fixtures.join(name)).unwrap();
        // The small lossy files whole, and the first 6 KB of each (a cut file: headers and a few
        // frames; the lossless ones are too big to fuzz whole).
        if bytes.len() < 20_000 {
            std::fs::write(dir.join(format!("seed-{name}")), &bytes).unwrap();
        }
        let cut = &bytes[..bytes.len().min(6144)];
        std::fs::write(dir.join(format!("seed-cut-{name}")), cut).unwrap();
    }
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
    let cfg = checks::tiny_config();
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

    let dir = corpus("denoiser_input");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, seed) in denoiser_seeds() {
        std::fs::write(dir.join(format!("seed-{name}")), seed.0).unwrap();
    }
}

/// Hand-made `denoiser_input` seeds, one per mode and hostile case (the layout is in fuzz/checks.rs
/// and fuzz/input.rs; burst values index `input::SPECIAL_VALUES`: 0 NaN, 1 +Inf, 2 −Inf, 5 f32::MAX,
/// 7 1e30, 9 1000.5, 11 a subnormal).
fn denoiser_seeds() -> Vec<(&'static str, Seed)> {
    let hops = |n: usize, s: Seed, hop: &dyn Fn(Seed) -> Seed| (0..n).fold(s, |s, _| hop(s.u8(0)));
    let tone = |s: Seed| s.tone(1, &[]);
    let mut seeds = vec![
        ("hops-clean", hops(12, Seed::default().u8(0), &tone).u8(0)),
        (
            "hops-one-nan",
            hops(4, Seed::default().u8(0), &tone)
                .u8(0)
                .tone(1, &[(0, 100, 1)])
                .u8(0)
                .tone(1, &[])
                .u8(0)
                .tone(1, &[]),
        ),
        (
            "hops-inf-bursts",
            hops(3, Seed::default().u8(0), &tone)
                .u8(0)
                .tone(2, &[(1, 0, 1), (2, 479, 1), (1, 200, 32)])
                .u8(0)
                .noise(1)
                .u8(0)
                .tone(1, &[]),
        ),
        (
            "hops-huge",
            Seed::default()
                .u8(0)
                .u8(0)
                .tone(3, &[(5, 10, 3), (7, 300, 5), (9, 400, 2), (11, 40, 8)])
                .u8(0)
                .noise(3)
                .u8(0)
                .raw(&[f32::MAX, f32::MIN, 1e30, -0.0, f32::NAN, 1e-45])
                .u8(0)
                .tone(1, &[]),
        ),
        (
            "hops-reset-and-params",
            Seed::default()
                .u8(1)
                .u8(0)
                .tone(1, &[(0, 5, 1)])
                .u8(6)
                .u8(0)
                .tone(1, &[])
                // Valid: a 12 dB limit and the post-filter at a huge (finite) beta.
                .u8(0x37)
                .control(12.0)
                .control(1e30)
                .control(-10.0)
                .control(30.0)
                .control(20.0)
                .u8(0)
                .tone(1, &[(1, 50, 4)])
                // Refused: a NaN limit and a negative beta.
                .u8(0x17)
                .control(f32::NAN)
                .control(-1.0)
                .control(f32::NEG_INFINITY)
                .control(f32::INFINITY)
                .control(0.0)
                .u8(0)
                .tone(1, &[])
                .u8(100),
        ),
    ];
    // enhance: mode 2, rate byte (bits 0-1 = 0: STREAM_RATES[b >> 2]; 3: BAD_RATES[b >> 2]), channel
    // count index (0: 1, 6: 2, 12: none, 13: 256, 14: 257, 15: 32,767), frames, one signal per channel.
    let enhance =
        |rate: u8, channels: u8, frames: u16, nb: usize, signal: &dyn Fn(Seed) -> Seed| {
            (0..nb).fold(
                Seed::default().u8(2).u8(rate).u8(channels).u16(frames),
                |s, _| signal(s),
            )
        };
    seeds.extend([
        ("enhance-48k-stereo", enhance(4 << 2, 6, 4800, 2, &tone)),
        (
            "enhance-44100-mono",
            enhance(3 << 2, 0, 4410, 1, &|s| s.noise(1)),
        ),
        ("enhance-47999-mono", enhance(10 << 2, 0, 3000, 1, &tone)),
        ("enhance-1khz", enhance(7 << 2, 0, 250, 1, &tone)),
        ("enhance-768khz", enhance(8 << 2, 0, 20_000, 1, &tone)),
        (
            "enhance-nan-refused",
            enhance(4 << 2, 0, 960, 1, &|s| s.tone(1, &[(0, 7, 1)])),
        ),
        ("enhance-no-channels", enhance(4 << 2, 12, 0, 0, &tone)),
        ("enhance-256-channels", enhance(0, 13, 100, 256, &tone)),
        ("enhance-257-channels", enhance(0, 14, 0, 257, &tone)),
        ("enhance-zero-hz", enhance(3, 0, 100, 1, &tone)),
        ("enhance-999-hz", enhance(3 | 2 << 2, 0, 100, 1, &tone)),
        ("enhance-u32-max-hz", enhance(3 | 4 << 2, 0, 100, 1, &tone)),
        (
            "enhance-any-rate",
            Seed::default()
                .u8(2)
                .u8(1)
                .u32(43_210)
                .u8(0)
                .u16(2000)
                .tone(1, &[]),
        ),
    ]);
    // Streams: mode 3, rate byte as above, then chunks (a byte, a length, a signal).
    let chunk = |s: Seed, n: u16, signal: &dyn Fn(Seed) -> Seed| signal(s.u8(0).frames(n));
    let stream = |rate: u8| Seed::default().u8(3).u8(rate);
    seeds.extend([
        (
            "stream-44100-odd-chunks",
            [1u16, 0, 441, 4096, 7, 1000, 16_383]
                .iter()
                .fold(stream(3 << 2), |s, &n| chunk(s, n, &tone)),
        ),
        (
            "stream-48k-nan-chunk-refused",
            chunk(
                chunk(chunk(stream(4 << 2), 480, &tone), 480, &|s| {
                    s.tone(1, &[(0, 3, 1)])
                }),
                480,
                &tone,
            ),
        ),
        (
            "stream-48001-huge-chunk-refused",
            chunk(
                chunk(stream(11 << 2), 2000, &|s| s.tone(3, &[])),
                2000,
                &tone,
            ),
        ),
        ("stream-bad-rate", chunk(stream(3 | 3 << 2), 100, &tone)),
    ]);
    seeds
}
