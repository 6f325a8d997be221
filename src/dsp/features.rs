//! Model input features, exactly as libDF computes them for DeepFilterNet:
//! - ERB features: `10·log10(band power + 1e-10)`, minus an exponential running mean per band
//!   (state initialised to a linspace from −60 dB to −90 dB), divided by 40;
//! - complex features: the first `NB_DF` bins divided by the square root of an exponential running mean
//!   of their magnitude (state initialised to a linspace from 0.001 to 0.0001).
//!
//! Both running means use `alpha = calc_norm_alpha(48 kHz, hop 480, tau 1 s) = 0.99`.
//!
//! Also the truth the model's LSNR head learns ([`lsnr_target_db`]), from the same spectra.
use super::erb::{band_power, erb_widths};
use super::stft::Analysis;
use super::Complex32;
use crate::config::{
    HOP_SIZE, LSNR_MAX_DB, LSNR_MIN_DB, NB_DF, NB_ERB, NB_FREQS, NORM_TAU_S, SAMPLE_RATE_HZ,
};

/// Initial mean-norm state: linspace from the first to the second value over the ERB bands (dB).
const MEAN_NORM_INIT_DB: [f32; 2] = [-60.0, -90.0];
/// Initial unit-norm state: linspace from the first to the second value over the DF bins.
const UNIT_NORM_INIT: [f32; 2] = [0.001, 0.0001];
/// The least value of a unit-norm state (a bin's running mean magnitude), see [`FeatureState::compute`].
const UNIT_NORM_FLOOR: f32 = 1e-12;
/// ERB features are divided by this to bring them near unit range.
const ERB_FEAT_SCALE: f32 = 40.0;

/// Smoothing factor of a running mean with time constant `tau_s`, updated once per hop: `exp(−hop/(sr·τ))`
/// rounded to the fewest decimals (at least 3) that keep it below 1, as libDF's `calc_norm_alpha`.
pub fn norm_alpha(sr_hz: usize, hop_size: usize, tau_s: f32) -> f32 {
    let dt = hop_size as f32 / sr_hz as f32;
    let alpha = (-dt / tau_s).exp();
    let mut precision = 3;
    loop {
        let scale = 10i32.pow(precision) as f32;
        let a = (alpha * scale).round() / scale;
        if a < 1.0 {
            return a;
        }
        precision += 1;
    }
}

/// `n` evenly spaced values from `start` to `end` inclusive (`start + i·step`, as ndarray's linspace).
fn linspace(start: f32, end: f32, out: &mut [f32]) {
    let step = (end - start) / (out.len() - 1) as f32;
    for (i, o) in out.iter_mut().enumerate() {
        *o = start + i as f32 * step;
    }
}

/// Running normalisation states of one stream.
#[derive(Debug, Clone)]
pub struct FeatureState {
    widths: Vec<usize>,
    alpha: f32,
    mean_norm_db: [f32; NB_ERB],
    unit_norm: [f32; NB_DF],
    band_db: [f32; NB_ERB],
}

impl FeatureState {
    /// Fresh state (libDF's initial normalisation states).
    pub fn new() -> Self {
        let mut s = Self {
            widths: erb_widths(),
            alpha: norm_alpha(SAMPLE_RATE_HZ, HOP_SIZE, NORM_TAU_S),
            mean_norm_db: [0.0; NB_ERB],
            unit_norm: [0.0; NB_DF],
            band_db: [0.0; NB_ERB],
        };
        s.reset();
        s
    }

    /// The running-mean smoothing factor in use.
    pub fn alpha(&self) -> f32 {
        self.alpha
    }

    /// The ERB band widths in use.
    pub fn erb_widths(&self) -> &[usize] {
        &self.widths
    }

    /// Back to the initial normalisation states.
    pub fn reset(&mut self) {
        linspace(
            MEAN_NORM_INIT_DB[0],
            MEAN_NORM_INIT_DB[1],
            &mut self.mean_norm_db,
        );
        linspace(UNIT_NORM_INIT[0], UNIT_NORM_INIT[1], &mut self.unit_norm);
    }

    /// Features of one spectrum (`NB_FREQS` bins): `erb_feat` gets `NB_ERB` values, `cplx_feat` gets
    /// `2·NB_DF` values (all real parts, then all imaginary parts). Updates the running states.
    pub fn compute(&mut self, spec: &[Complex32], erb_feat: &mut [f32], cplx_feat: &mut [f32]) {
        debug_assert_eq!(spec.len(), NB_FREQS);
        debug_assert_eq!(erb_feat.len(), NB_ERB);
        debug_assert_eq!(cplx_feat.len(), 2 * NB_DF);
        let a = self.alpha;
        band_power(spec, &self.widths, &mut self.band_db);
        for ((o, &p), s) in erb_feat
            .iter_mut()
            .zip(&self.band_db)
            .zip(&mut self.mean_norm_db)
        {
            let db = (p + 1e-10).log10() * 10.0;
            *s = db * (1.0 - a) + *s * a;
            *o = (db - *s) / ERB_FEAT_SCALE;
        }
        let (re, im) = cplx_feat.split_at_mut(NB_DF);
        for (((x, s), r), i) in spec[..NB_DF]
            .iter()
            .zip(&mut self.unit_norm)
            .zip(re)
            .zip(im)
        {
            // The floor keeps the divisor non-zero: in digital silence the state decays by `a` per
            // hop, and under flush-to-zero (the live worker's and the plugin's mode) it reaches 0
            // after about 77 s, which made every later feature 0/0 = NaN, for good. 1e-12 is far
            // below any recorded signal's bin magnitude, so nothing else changes.
            *s = (x.norm() * (1.0 - a) + *s * a).max(UNIT_NORM_FLOOR);
            let d = s.sqrt();
            *r = x.re / d;
            *i = x.im / d;
        }
    }
}

impl Default for FeatureState {
    fn default() -> Self {
        Self::new()
    }
}

/// The streaming analysis of a whole signal (for training and offline use).
#[derive(Debug, Clone, PartialEq)]
pub struct SignalFrames {
    /// Number of frames `T = ceil(len / HOP_SIZE)`.
    pub frames: usize,
    /// Spectra, `[T][NB_FREQS]`.
    pub spec: Vec<Complex32>,
    /// Normalised ERB features, `[T][NB_ERB]`.
    pub erb: Vec<f32>,
    /// Unit-normalised complex features, `[T][2][NB_DF]`.
    pub cplx: Vec<f32>,
}

/// Runs [`Analysis`] and [`FeatureState`] from fresh states over `samples_48k`, zero-padding the last hop.
pub fn analyze_signal(samples_48k: &[f32]) -> SignalFrames {
    let frames = samples_48k.len().div_ceil(HOP_SIZE);
    let mut out = SignalFrames {
        frames,
        spec: vec![Complex32::default(); frames * NB_FREQS],
        erb: vec![0.0; frames * NB_ERB],
        cplx: vec![0.0; frames * 2 * NB_DF],
    };
    let mut analysis = Analysis::new();
    let mut feats = FeatureState::new();
    let mut hop = [0.0f32; HOP_SIZE];
    for t in 0..frames {
        let chunk = &samples_48k[t * HOP_SIZE..samples_48k.len().min((t + 1) * HOP_SIZE)];
        hop[..chunk.len()].copy_from_slice(chunk);
        hop[chunk.len()..].fill(0.0);
        let spec = &mut out.spec[t * NB_FREQS..(t + 1) * NB_FREQS];
        analysis.process(&hop, spec);
        feats.compute(
            spec,
            &mut out.erb[t * NB_ERB..(t + 1) * NB_ERB],
            &mut out.cplx[t * 2 * NB_DF..(t + 1) * 2 * NB_DF],
        );
    }
    out
}

/// The local SNR of one frame as the trainer's loss defines it (`src/train/loss.rs`): 10·log10 of the
/// clean (target) frame's energy over the energy of `noisy − clean`, clamped to the model's LSNR range.
/// The model's estimate for frame `t` comes at hop `t + df_lookahead`.
pub fn lsnr_target_db(clean: &[Complex32], noisy: &[Complex32]) -> f32 {
    debug_assert_eq!(clean.len(), noisy.len());
    let es: f32 = clean.iter().map(|c| c.norm_sqr()).sum();
    let en: f32 = clean
        .iter()
        .zip(noisy)
        .map(|(c, n)| (n - c).norm_sqr())
        .sum();
    (10.0 * ((es + 1e-10) / (en + 1e-10)).log10()).clamp(LSNR_MIN_DB, LSNR_MAX_DB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsnr_target_is_the_energy_ratio_clamped_to_the_head_range() {
        let clean = [Complex32::new(1.0, 0.0), Complex32::new(0.0, 1.0)];
        let noisy = [Complex32::new(1.1, 0.0), Complex32::new(0.0, 1.1)];
        // Energy 2 over 2 · 0.01: 20 dB.
        assert!((lsnr_target_db(&clean, &noisy) - 20.0).abs() < 1e-3);
        assert_eq!(lsnr_target_db(&clean, &clean), LSNR_MAX_DB);
        let silent = [Complex32::default(); 2];
        assert_eq!(lsnr_target_db(&silent, &noisy), LSNR_MIN_DB);
    }

    #[test]
    fn alpha_for_one_second_is_0_99() {
        assert_eq!(norm_alpha(48_000, 480, 1.0), 0.99);
        assert!(norm_alpha(48_000, 480, 1000.0) < 1.0);
    }

    #[test]
    fn initial_states_are_libdf_linspaces() {
        let s = FeatureState::new();
        assert_eq!(s.mean_norm_db[0], -60.0);
        assert!((s.mean_norm_db[NB_ERB - 1] + 90.0).abs() < 1e-4);
        assert_eq!(s.unit_norm[0], 0.001);
        assert!((s.unit_norm[NB_DF - 1] - 0.0001).abs() < 1e-9);
    }

    #[test]
    fn silence_features_follow_the_states() {
        // Zero spectrum: band power 1e-10 → −100 dB; the mean moves 1 % towards it each frame.
        let mut s = FeatureState::new();
        let spec = vec![Complex32::default(); NB_FREQS];
        let mut erb = [0.0; NB_ERB];
        let mut cplx = [1.0; 2 * NB_DF];
        s.compute(&spec, &mut erb, &mut cplx);
        let mean0 = -60.0 * 0.99 + -100.0 * 0.01;
        assert!((erb[0] - (-100.0 - mean0) / 40.0).abs() < 1e-5);
        assert!(cplx.iter().all(|&c| c == 0.0));
    }

    #[test]
    fn a_unit_norm_state_flushed_to_zero_gives_finite_features() {
        // Minutes of digital silence decay the unit-norm states by 0.99 per hop; under flush-to-zero
        // (the plugin's mode) they reach exactly 0 after about 77 s, and 0 / sqrt(0) would be NaN.
        let mut s = FeatureState::new();
        s.unit_norm.fill(0.0);
        let spec = vec![Complex32::default(); NB_FREQS];
        let mut erb = [0.0; NB_ERB];
        let mut cplx = [1.0; 2 * NB_DF];
        s.compute(&spec, &mut erb, &mut cplx);
        assert!(cplx.iter().all(|&c| c == 0.0), "{cplx:?}");
        assert!(erb.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn analyze_signal_pads_the_last_hop() {
        let x = vec![0.1f32; 3 * HOP_SIZE + 7];
        let f = analyze_signal(&x);
        assert_eq!(f.frames, 4);
        assert_eq!(f.spec.len(), 4 * NB_FREQS);
        assert_eq!(f.erb.len(), 4 * NB_ERB);
        assert_eq!(f.cplx.len(), 4 * 2 * NB_DF);
        assert!(f.erb.iter().chain(&f.cplx).all(|v| v.is_finite()));
    }
}
