//! The DSP port against libDF itself: vectors written by `scripts/assets/make_golden.py` with PyPI
//! `DeepFilterLib` 0.5.6 (libDF's Python bindings) on noisy espeak-ng speech, 128 frames.
//!
//! Tolerance: per frame `‖got − want‖ / ‖want‖ ≤ 1e-5`, and per element
//! `|got − want| ≤ 1e-5 · max(|want|, rms(frame of want))` (the frame RMS is the absolute floor that keeps
//! near-zero elements from demanding impossible relative accuracy).
use std::path::PathBuf;

use dfn4::config::{FFT_SIZE, HOP_SIZE, NB_DF, NB_ERB, NB_FREQS, NORM_TAU_S, SAMPLE_RATE_HZ};
use dfn4::dsp::erb::{apply_band_gains, erb_widths};
use dfn4::dsp::features::{analyze_signal, norm_alpha, FeatureState};
use dfn4::dsp::stft::{Analysis, Synthesis};
use dfn4::dsp::{window, Complex32};

const REL_TOL: f64 = 1e-5;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(data_dir().join("golden_manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest JSON")
}

/// Reads a golden vector and checks its element count against the manifest's shape.
fn load(m: &serde_json::Value, key: &str) -> Vec<f32> {
    let entry = &m["files"][key];
    let name = entry["file"].as_str().expect("file name");
    let bytes = std::fs::read(data_dir().join(name)).expect("golden file");
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let count: u64 = entry["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .product();
    assert_eq!(
        v.len() as u64,
        count,
        "{name}: size does not match the manifest"
    );
    v
}

fn frames(m: &serde_json::Value) -> usize {
    m["frames"].as_u64().unwrap() as usize
}

fn as_f32(spec: &[Complex32]) -> Vec<f32> {
    spec.iter().flat_map(|c| [c.re, c.im]).collect()
}

/// Compares `got` with `want` frame by frame (`frame_len` values each); returns the worst per-frame
/// relative error.
fn assert_close(what: &str, got: &[f32], want: &[f32], frame_len: usize) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0.0f64;
    for (t, (g, w)) in got
        .chunks(frame_len)
        .zip(want.chunks(frame_len))
        .enumerate()
    {
        let norm_w = w.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
        let norm_d = g
            .iter()
            .zip(w)
            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let rms = norm_w / (w.len() as f64).sqrt();
        let rel = if norm_w > 0.0 {
            norm_d / norm_w
        } else {
            norm_d
        };
        assert!(rel <= REL_TOL, "{what}: frame {t}: relative error {rel:e}");
        worst = worst.max(rel);
        for (i, (&a, &b)) in g.iter().zip(w).enumerate() {
            let err = (a as f64 - b as f64).abs();
            let scale = (b as f64).abs().max(rms);
            assert!(
                err <= REL_TOL * scale,
                "{what}: frame {t} element {i}: {a} vs {b} (scale {scale:e})"
            );
        }
    }
    eprintln!("{what}: worst per-frame relative error {worst:e}");
    worst
}

#[test]
fn erb_widths_and_alpha_match_libdf() {
    let m = manifest();
    let want: Vec<usize> = m["erb_widths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(erb_widths(), want);
    assert_eq!(want.len(), NB_ERB);
    let alpha = m["norm_alpha"].as_f64().unwrap() as f32;
    assert_eq!(norm_alpha(SAMPLE_RATE_HZ, HOP_SIZE, NORM_TAU_S), alpha);
    assert_eq!(FeatureState::new().alpha(), alpha);
}

#[test]
fn window_matches_libdf() {
    let m = manifest();
    let want = load(&m, "window");
    let got = window::default_window();
    assert_eq!(got.len(), FFT_SIZE);
    for (n, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!((a - b).abs() <= 1e-7, "window[{n}]: {a} vs {b}");
    }
}

#[test]
fn stft_analysis_matches_libdf() {
    let m = manifest();
    let input = load(&m, "input");
    let want = load(&m, "spec");
    let t_len = frames(&m);
    assert!(t_len >= 100);
    let mut ana = Analysis::new();
    let mut spec = vec![Complex32::default(); t_len * NB_FREQS];
    for (x, s) in input
        .chunks_exact(HOP_SIZE)
        .zip(spec.chunks_exact_mut(NB_FREQS))
    {
        ana.process(x, s);
    }
    assert_close("spec", &as_f32(&spec), &want, 2 * NB_FREQS);
}

#[test]
fn stft_synthesis_matches_libdf() {
    let m = manifest();
    let t_len = frames(&m);
    let spec = load(&m, "spec");
    let gains = load(&m, "gains");
    let want = load(&m, "istft");
    let widths = erb_widths();
    let mut syn = Synthesis::new();
    let mut frame = vec![Complex32::default(); NB_FREQS];
    let mut out = vec![0.0f32; t_len * HOP_SIZE];
    for t in 0..t_len {
        for (f, c) in frame.iter_mut().enumerate() {
            let k = (t * NB_FREQS + f) * 2;
            *c = Complex32::new(spec[k], spec[k + 1]);
        }
        apply_band_gains(&mut frame, &gains[t * NB_ERB..(t + 1) * NB_ERB], &widths);
        syn.process(&mut frame, &mut out[t * HOP_SIZE..(t + 1) * HOP_SIZE]);
    }
    // The first hop is only the fade-in of one frame; compare all hops.
    assert_close("istft", &out, &want, HOP_SIZE);
}

#[test]
fn features_match_libdf_from_libdf_spectra() {
    let m = manifest();
    let t_len = frames(&m);
    let spec = load(&m, "spec");
    let want_erb = load(&m, "erb");
    let want_cplx = load(&m, "cplx");
    let mut state = FeatureState::new();
    let mut erb = vec![0.0f32; t_len * NB_ERB];
    let mut cplx = vec![0.0f32; t_len * 2 * NB_DF];
    let mut frame = vec![Complex32::default(); NB_FREQS];
    for t in 0..t_len {
        for (f, c) in frame.iter_mut().enumerate() {
            let k = (t * NB_FREQS + f) * 2;
            *c = Complex32::new(spec[k], spec[k + 1]);
        }
        state.compute(
            &frame,
            &mut erb[t * NB_ERB..(t + 1) * NB_ERB],
            &mut cplx[t * 2 * NB_DF..(t + 1) * 2 * NB_DF],
        );
    }
    assert_close("erb features", &erb, &want_erb, NB_ERB);
    assert_close("complex features", &cplx, &want_cplx, 2 * NB_DF);
}

#[test]
fn analyze_signal_matches_libdf_end_to_end() {
    let m = manifest();
    let input = load(&m, "input");
    let f = analyze_signal(&input);
    assert_eq!(f.frames, frames(&m));
    assert_close(
        "analyze_signal spec",
        &as_f32(&f.spec),
        &load(&m, "spec"),
        2 * NB_FREQS,
    );
    assert_close("analyze_signal erb", &f.erb, &load(&m, "erb"), NB_ERB);
    assert_close("analyze_signal cplx", &f.cplx, &load(&m, "cplx"), 2 * NB_DF);
}
