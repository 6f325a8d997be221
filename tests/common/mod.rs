//! Helpers shared by the integration tests: test signals, WAV files in every format, and a seeded
//! random-weights model (the tests never rely on trained weights); [`backend`] for the parity tests.
#![allow(dead_code)]

pub mod backend;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use dfn4::config::ModelConfig;
use dfn4::model::Weights;

/// The `dfn4` binary under test.
pub fn dfn4() -> Command {
    Command::cargo_bin("dfn4").expect("the dfn4 binary is built")
}

/// Writes seeded random weights (default config) to `dir/model.safetensors` and returns the path.
pub fn random_model(dir: &Path) -> PathBuf {
    let path = dir.join("model.safetensors");
    let bytes = Weights::random(&ModelConfig::default(), 42)
        .to_safetensors_bytes()
        .expect("random weights serialise");
    std::fs::write(&path, bytes).expect("write model");
    path
}

/// A speech-band test signal: a few non-harmonic tones plus a little deterministic noise, amplitude
/// below 0.7. Channel `ch` gets different frequencies so channel mix-ups are caught.
pub fn test_signal(rate_hz: u32, frames: usize, ch: usize) -> Vec<f32> {
    signal(rate_hz, frames, ch, 0.02)
}

/// [`test_signal`] without the noise: band-limited to a few kHz, so resampling changes nothing but
/// float rounding away from the file's edges.
pub fn tones(rate_hz: u32, frames: usize, ch: usize) -> Vec<f32> {
    signal(rate_hz, frames, ch, 0.0)
}

fn signal(rate_hz: u32, frames: usize, ch: usize, noise_amplitude: f32) -> Vec<f32> {
    let mut seed = 0x1234_5678u32 ^ (ch as u32 * 0x9e37);
    let base = 180.0 + 70.0 * ch as f32;
    (0..frames)
        .map(|i| {
            let t = i as f32 / rate_hz as f32;
            let tau = std::f32::consts::TAU;
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * noise_amplitude;
            0.3 * (tau * base * t).sin()
                + 0.2 * (tau * 2.7 * base * t + 0.4).sin()
                + 0.1 * (tau * 1234.5 * t + 1.3).sin()
                + noise
        })
        .collect()
}

/// Sample encodings the tests write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    I16,
    I24,
    I32,
    F32,
}

impl Fmt {
    pub fn spec(self, channels: u16, rate_hz: u32) -> hound::WavSpec {
        let (bits, sample_format) = match self {
            Fmt::I16 => (16, hound::SampleFormat::Int),
            Fmt::I24 => (24, hound::SampleFormat::Int),
            Fmt::I32 => (32, hound::SampleFormat::Int),
            Fmt::F32 => (32, hound::SampleFormat::Float),
        };
        hound::WavSpec {
            channels,
            sample_rate: rate_hz,
            bits_per_sample: bits,
            sample_format,
        }
    }
}

/// Writes `channels` (equal lengths) with hound in `fmt`.
pub fn write_wav(path: &Path, rate_hz: u32, fmt: Fmt, channels: &[Vec<f32>]) {
    let spec = fmt.spec(channels.len() as u16, rate_hz);
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for i in 0..channels[0].len() {
        for ch in channels {
            let x = ch[i];
            match fmt {
                Fmt::F32 => w.write_sample(x).unwrap(),
                Fmt::I16 => w.write_sample((x * 32768.0).round() as i16).unwrap(),
                Fmt::I24 => w.write_sample((x * 8_388_608.0).round() as i32).unwrap(),
                Fmt::I32 => w
                    .write_sample((f64::from(x) * 2_147_483_648.0).round() as i32)
                    .unwrap(),
            }
        }
    }
    w.finalize().unwrap();
}

/// A decoded WAV file as the tests see it.
pub struct Decoded {
    pub spec: hound::WavSpec,
    /// `channels[c][frame]`, scaled to [-1, 1].
    pub channels: Vec<Vec<f32>>,
}

/// Reads a WAV file with hound, independently of dfn4's reader.
pub fn read_wav(path: &Path) -> Decoded {
    let mut r = hound::WavReader::open(path).expect("open output wav");
    let spec = r.spec();
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(|s| s.unwrap()).collect(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f64;
            r.samples::<i32>()
                .map(|s| (f64::from(s.unwrap()) * scale) as f32)
                .collect()
        }
    };
    let n = usize::from(spec.channels);
    let channels = (0..n)
        .map(|c| interleaved.iter().skip(c).step_by(n).copied().collect())
        .collect();
    Decoded { spec, channels }
}

/// Names of the entries of `dir`, sorted.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
