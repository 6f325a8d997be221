//! A quality floor for the shipped weights that cannot be gamed: `dfn4 enhance` (default backend,
//! embedded weights) on a noisy fixture made here from the clean reference in assets/ plus seeded
//! synthetic noise at a known SNR must raise SI-SDR by a margin. The noise is generated in the test
//! (pink noise with a slowly modulated level and mains hum), so it matches no training file.
mod common;

use common::{dfn4, read_wav};

/// Floor in dB: 8.14 dB measured on this fixture with the shipped weights (step 62,000 of the corpus v3
/// run; the same with native, native-f16 and native-i8), less a 1.6 dB margin for other machines' rounding.
const MIN_SI_SDR_GAIN_DB: f64 = 6.5;
const SNR_DB: f64 = 5.0;

/// Scale-invariant SDR in dB of `est` against `reference`.
fn si_sdr_db(est: &[f32], reference: &[f32]) -> f64 {
    let dot: f64 = est
        .iter()
        .zip(reference)
        .map(|(a, b)| *a as f64 * *b as f64)
        .sum();
    let ref_energy: f64 = reference.iter().map(|b| (*b as f64).powi(2)).sum();
    let alpha = dot / ref_energy;
    let (mut target, mut err) = (0.0f64, 0.0f64);
    for (e, r) in est.iter().zip(reference) {
        let t = alpha * *r as f64;
        target += t * t;
        err += (*e as f64 - t).powi(2);
    }
    10.0 * (target / err.max(1e-20)).log10()
}

/// Seeded pink-ish noise (Paul Kellet's filter on white noise from an LCG), amplitude-modulated at
/// 0.3 Hz, plus 50 Hz hum with two harmonics.
fn noise(len: usize, rate_hz: f64) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut white = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f64 / (1u64 << 24) as f64) * 2.0 - 1.0
    };
    let (mut b0, mut b1, mut b2) = (0.0, 0.0, 0.0);
    (0..len)
        .map(|i| {
            let w = white();
            b0 = 0.99765 * b0 + w * 0.0990460;
            b1 = 0.96300 * b1 + w * 0.2965164;
            b2 = 0.57000 * b2 + w * 1.0526913;
            let pink = b0 + b1 + b2 + w * 0.1848;
            let t = i as f64 / rate_hz;
            let am = 1.0 + 0.5 * (2.0 * std::f64::consts::PI * 0.3 * t).sin();
            let hum: f64 = [(50.0, 1.0), (100.0, 0.5), (150.0, 0.25)]
                .iter()
                .map(|(f, a)| a * (2.0 * std::f64::consts::PI * f * t).sin())
                .sum();
            (pink * am + 0.3 * hum) as f32
        })
        .collect()
}

fn energy(x: &[f32]) -> f64 {
    x.iter().map(|v| (*v as f64).powi(2)).sum()
}

#[test]
fn shipped_weights_raise_si_sdr_on_unseen_noise() {
    assert!(
        dfn4::model::embedded::available(),
        "the default build must embed trained weights (models/dfn4.safetensors)"
    );
    let clean_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/clean_speech.wav");
    let clean = read_wav(&clean_path).channels.remove(0);
    let rate_hz = 48_000.0;
    let mut n = noise(clean.len(), rate_hz);
    let gain = (energy(&clean) / energy(&n) / 10f64.powf(SNR_DB / 10.0)).sqrt() as f32;
    n.iter_mut().for_each(|v| *v *= gain);
    let noisy: Vec<f32> = clean.iter().zip(&n).map(|(c, v)| c + v).collect();

    let dir = tempfile::tempdir().unwrap();
    let (inp, out) = (
        dir.path().join("noisy.wav"),
        dir.path().join("enhanced.wav"),
    );
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&inp, spec).unwrap();
    noisy.iter().for_each(|s| w.write_sample(*s).unwrap());
    w.finalize().unwrap();

    dfn4().arg("enhance").arg(&inp).arg(&out).assert().success();
    let enhanced = read_wav(&out).channels.remove(0);
    assert_eq!(enhanced.len(), clean.len());

    let before = si_sdr_db(&noisy, &clean);
    let after = si_sdr_db(&enhanced, &clean);
    eprintln!(
        "SI-SDR noisy {before:.2} dB, enhanced {after:.2} dB, gain {:.2} dB",
        after - before
    );
    assert!(
        (before - SNR_DB).abs() < 0.5,
        "fixture SNR is off: {before:.2} dB"
    );
    assert!(
        after - before >= MIN_SI_SDR_GAIN_DB,
        "SI-SDR gain {:.2} dB is below the floor of {MIN_SI_SDR_GAIN_DB} dB",
        after - before
    );
}
