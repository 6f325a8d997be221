//! Applying the model outputs to the spectrum, as libDF's real-time loop does:
//! - the LSNR estimate picks the stage ([`Stage`]): noise only (zero frame), clean (pass through),
//!   ERB gains only, or ERB gains plus deep filter;
//! - ERB gains multiply all bins of the delayed frame `t − lookahead`;
//! - the deep filter replaces bins `< NB_DF` by a complex FIR over the noisy frames `t − order + 1 … t`;
//! - an optional post-filter (only when the gains were applied) sharpens the gains;
//! - an optional attenuation limit mixes the delayed noisy frame back in.
//!
//! [`SpecRing`] holds the noisy spectra; everything is sized at construction, nothing allocates per frame.
use super::erb::apply_band_gains;
use super::Complex32;
use crate::config::{NB_DF, NB_ERB, NB_FREQS};

/// An attenuation limit of this many dB or more is no limit (libDF's convention).
pub const ATTEN_LIM_UNLIMITED_DB: f32 = 100.0;

/// The limit a control value in dB stands for (a meter slider, a plugin port): the meaning of
/// [`DenoiseParams::atten_lim_db`], with [`ATTEN_LIM_UNLIMITED_DB`] or more as `None`. A control cannot
/// refuse a value, so a negative one counts as 0 (no attenuation) and NaN as unlimited.
pub fn atten_lim_from_control(control_db: f32) -> Option<f32> {
    (control_db < ATTEN_LIM_UNLIMITED_DB).then_some(control_db.max(0.0))
}

/// Run-time parameters of the enhancement (libDF's `RuntimeParams`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenoiseParams {
    /// Maximum attenuation in dB (`None`: unlimited): 0 = no attenuation (the output is the delayed
    /// input), 12 = noise lowered by at most 12 dB, [`ATTEN_LIM_UNLIMITED_DB`] or more = unlimited (as
    /// libDF). The one meaning of the limit in the library, the CLI, live, the meter and the plugin;
    /// negative or NaN values are refused.
    pub atten_lim_db: Option<f32>,
    /// Whether to apply the post-filter.
    pub post_filter: bool,
    /// Post-filter strength (libDF default 0.02).
    pub post_filter_beta: f32,
    /// Below this LSNR (dB) the frame is taken as noise only and zeroed.
    pub min_db_thresh: f32,
    /// Above this LSNR (dB) the frame is taken as clean and passed through unprocessed.
    pub max_db_erb_thresh: f32,
    /// Above this LSNR (dB) only the ERB gains are applied (no deep filter).
    pub max_db_df_thresh: f32,
}

impl Default for DenoiseParams {
    fn default() -> Self {
        Self {
            atten_lim_db: None,
            post_filter: false,
            post_filter_beta: 0.02,
            min_db_thresh: -10.0,
            max_db_erb_thresh: 30.0,
            max_db_df_thresh: 20.0,
        }
    }
}

impl DenoiseParams {
    /// Rejects parameters that would make the output meaningless (NaN thresholds, negative beta).
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: &str| Err(crate::Error::Config(m.to_string()));
        if !self.post_filter_beta.is_finite() || self.post_filter_beta < 0.0 {
            return bad("post_filter_beta must be finite and non-negative");
        }
        if let Some(db) = self.atten_lim_db {
            if db.is_nan() || db < 0.0 {
                return Err(crate::Error::Config(format!(
                    "the attenuation limit must be a number of dB >= 0 (got {db}); 0 = no attenuation, {ATTEN_LIM_UNLIMITED_DB} or more = unlimited"
                )));
            }
        }
        if [
            self.min_db_thresh,
            self.max_db_erb_thresh,
            self.max_db_df_thresh,
        ]
        .iter()
        .any(|v| v.is_nan())
        {
            return bad("LSNR thresholds must not be NaN");
        }
        Ok(())
    }

    /// What every front end runs the shipped model with unless told otherwise (`dfn4 enhance` and
    /// `dfn4 live` without options, the plugin, the Python package): libDF's parameters with the LSNR
    /// gates at the ends of the LSNR range, i.e. off, because the shipped model's LSNR head is not
    /// accurate enough to gate on (docs/quality.md). [`Default`] keeps libDF's gates.
    pub fn shipped() -> Self {
        Self {
            min_db_thresh: crate::config::LSNR_MIN_DB,
            max_db_erb_thresh: crate::config::LSNR_MAX_DB,
            max_db_df_thresh: crate::config::LSNR_MAX_DB,
            ..Self::default()
        }
    }

    /// Linear gain floor of the attenuation limit, `10^(−atten_lim_db/20)`, or `None` when unlimited
    /// (libDF treats 100 dB and more as no limit).
    pub fn atten_lim_gain(&self) -> Option<f32> {
        let db = self.atten_lim_db?.max(0.0);
        if db >= ATTEN_LIM_UNLIMITED_DB {
            None
        } else {
            Some(10f32.powf(-db / 20.0))
        }
    }
}

/// Which processing a frame gets, chosen from the LSNR estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// LSNR below `min_db_thresh`: no speech, the output frame is zero.
    NoiseOnly,
    /// LSNR above `max_db_erb_thresh`: clean speech, the frame passes unprocessed.
    Passthrough,
    /// LSNR above `max_db_df_thresh`: ERB gains only.
    ErbOnly,
    /// Otherwise: ERB gains and the deep filter.
    ErbAndDf,
}

impl Stage {
    /// libDF's `apply_stages`. A NaN LSNR fails every comparison and gets full processing.
    pub fn select(lsnr_db: f32, p: &DenoiseParams) -> Self {
        if lsnr_db < p.min_db_thresh {
            Stage::NoiseOnly
        } else if lsnr_db > p.max_db_erb_thresh {
            Stage::Passthrough
        } else if lsnr_db > p.max_db_df_thresh {
            Stage::ErbOnly
        } else {
            Stage::ErbAndDf
        }
    }
}

/// The last `len` noisy spectra, newest last; starts as zeros (as libDF's rolling buffers).
#[derive(Debug, Clone)]
pub struct SpecRing {
    data: Vec<Complex32>,
    len: usize,
    /// Slot of the newest frame.
    newest: usize,
}

impl SpecRing {
    /// A ring of `len ≥ 1` zero spectra.
    pub fn new(len: usize) -> Self {
        let len = len.max(1);
        Self {
            data: vec![Complex32::default(); len * NB_FREQS],
            len,
            newest: len - 1,
        }
    }

    /// Number of frames held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: the ring holds at least one frame.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Replaces the oldest frame by `spec` (`NB_FREQS` bins).
    pub fn push(&mut self, spec: &[Complex32]) {
        debug_assert_eq!(spec.len(), NB_FREQS);
        self.newest = (self.newest + 1) % self.len;
        self.data[self.newest * NB_FREQS..(self.newest + 1) * NB_FREQS].copy_from_slice(spec);
    }

    /// The frame pushed `age` pushes ago (0: newest); `age < len`.
    pub fn get(&self, age: usize) -> &[Complex32] {
        debug_assert!(age < self.len);
        let slot = (self.newest + self.len - age) % self.len;
        &self.data[slot * NB_FREQS..(slot + 1) * NB_FREQS]
    }

    /// Back to all zeros.
    pub fn reset(&mut self) {
        self.data.fill(Complex32::default());
        self.newest = self.len - 1;
    }
}

/// Deep filter: `out[f] = Σ_o coefs[f][o] · ring[age order−1−o][f]` for `f < NB_DF` (tap 0 is the
/// oldest frame). `coefs` is `[NB_DF][order][2]` (re, im); bins `≥ NB_DF` are left untouched.
pub fn apply_df(ring: &SpecRing, coefs: &[f32], order: usize, out: &mut [Complex32]) {
    debug_assert!(order <= ring.len());
    debug_assert_eq!(coefs.len(), NB_DF * order * 2);
    out[..NB_DF].fill(Complex32::default());
    // Oldest tap first, bin by bin, accumulating from zero: libDF's summation order.
    for o in 0..order {
        let frame = ring.get(order - 1 - o);
        for (f, (y, &x)) in out[..NB_DF].iter_mut().zip(&frame[..NB_DF]).enumerate() {
            let c = &coefs[(f * order + o) * 2..(f * order + o) * 2 + 2];
            *y += x * Complex32::new(c[0], c[1]);
        }
    }
}

/// libDF's post-filter (Valin et al., PercepNet, Eq. 8 form): with `g = clamp(|enh|/|noisy|)`,
/// scales each bin by `(1+β)·g / (1 + β·(g/g')²) / g` where `g' = g·sin(g·π/2)`, attenuating
/// low-gain bins further. Like libDF it works on groups of 4 bins, so the last bin (Nyquist) is left as is.
pub fn post_filter(noisy: &[Complex32], enh: &mut [Complex32], beta: f32) {
    const EPS: f32 = 1e-12;
    let n_bins = noisy.len().min(enh.len()) / 4 * 4;
    for (e, n) in enh[..n_bins].iter_mut().zip(&noisy[..n_bins]) {
        // min/max rather than clamp: a NaN ratio becomes 1 (no post-filtering), as in libDF.
        #[allow(clippy::manual_clamp)]
        let g = (e.norm() / (n.norm() + EPS)).min(1.0).max(EPS);
        let g_sin = g * (g * std::f32::consts::FRAC_PI_2).sin();
        let pf = ((beta + 1.0) * g / (1.0 + beta * (g / g_sin).powi(2))) / g;
        *e *= pf;
    }
}

/// Enhances the frame at `lookahead` frames before the newest one in `ring` and writes it to `out`.
///
/// `gains` are the `NB_ERB` ERB gains, `coefs` the `[NB_DF][order][2]` DF coefficients; `widths` the
/// ERB band widths. Returns the stage that was applied.
#[allow(clippy::too_many_arguments)]
pub fn enhance_frame(
    ring: &SpecRing,
    gains: &[f32],
    coefs: &[f32],
    lsnr_db: f32,
    order: usize,
    lookahead: usize,
    widths: &[usize],
    params: &DenoiseParams,
    out: &mut [Complex32],
) -> Stage {
    debug_assert_eq!(gains.len(), NB_ERB);
    debug_assert_eq!(out.len(), NB_FREQS);
    let noisy = ring.get(lookahead);
    let stage = Stage::select(lsnr_db, params);
    match stage {
        Stage::NoiseOnly => out.fill(Complex32::default()),
        Stage::Passthrough => out.copy_from_slice(noisy),
        Stage::ErbOnly | Stage::ErbAndDf => {
            out.copy_from_slice(noisy);
            apply_band_gains(out, gains, widths);
            if stage == Stage::ErbAndDf {
                apply_df(ring, coefs, order, out);
            }
            if params.post_filter {
                post_filter(noisy, out, params.post_filter_beta);
            }
        }
    }
    if let Some(lim) = params.atten_lim_gain() {
        for (e, &n) in out.iter_mut().zip(noisy) {
            *e = *e * (1.0 - lim) + n * lim;
        }
    }
    stage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DF_ORDER;
    use crate::dsp::erb::erb_widths;

    fn frame(seed: f32) -> Vec<Complex32> {
        (0..NB_FREQS)
            .map(|f| {
                Complex32::new(
                    (f as f32 * 0.37 + seed).sin(),
                    (f as f32 * 0.11 - seed).cos(),
                )
            })
            .collect()
    }

    #[test]
    fn stages_follow_libdf_thresholds() {
        let p = DenoiseParams::default();
        assert_eq!(Stage::select(-12.0, &p), Stage::NoiseOnly);
        assert_eq!(Stage::select(-10.0, &p), Stage::ErbAndDf);
        assert_eq!(Stage::select(20.0, &p), Stage::ErbAndDf);
        assert_eq!(Stage::select(25.0, &p), Stage::ErbOnly);
        assert_eq!(Stage::select(30.0, &p), Stage::ErbOnly);
        assert_eq!(Stage::select(31.0, &p), Stage::Passthrough);
        assert_eq!(Stage::select(f32::NAN, &p), Stage::ErbAndDf);
    }

    #[test]
    fn ring_returns_frames_by_age() {
        let mut r = SpecRing::new(3);
        for k in 0..5 {
            r.push(&frame(k as f32));
        }
        assert_eq!(r.get(0), frame(4.0).as_slice());
        assert_eq!(r.get(2), frame(2.0).as_slice());
        r.reset();
        assert!(r.get(1).iter().all(|x| *x == Complex32::default()));
    }

    #[test]
    fn df_taps_run_oldest_to_newest() {
        let mut r = SpecRing::new(DF_ORDER);
        for k in 0..DF_ORDER {
            r.push(&frame(k as f32));
        }
        // Tap o = 1 (age 3) with weight i, tap 4 (newest) with weight 2.
        let mut coefs = vec![0.0; NB_DF * DF_ORDER * 2];
        for f in 0..NB_DF {
            coefs[(f * DF_ORDER + 1) * 2 + 1] = 1.0;
            coefs[(f * DF_ORDER + 4) * 2] = 2.0;
        }
        let mut out = frame(9.0);
        let high = out[NB_DF..].to_vec();
        apply_df(&r, &coefs, DF_ORDER, &mut out);
        for (f, y) in out[..NB_DF].iter().enumerate() {
            let want = r.get(3)[f] * Complex32::i() + r.get(0)[f] * 2.0;
            assert!((y - want).norm() < 1e-6);
        }
        assert_eq!(&out[NB_DF..], high.as_slice());
    }

    #[test]
    fn post_filter_keeps_unit_gain_and_attenuates_low_gain() {
        let noisy = frame(1.0);
        let mut same = noisy.clone();
        post_filter(&noisy, &mut same, 0.02);
        for (a, b) in same.iter().zip(&noisy) {
            assert!((a - b).norm() <= 1e-5 * b.norm().max(1e-3));
        }
        let mut low: Vec<Complex32> = noisy.iter().map(|x| x * 0.1).collect();
        post_filter(&noisy, &mut low, 0.02);
        for f in 0..NB_FREQS - 1 {
            assert!(low[f].norm() < 0.1 * noisy[f].norm());
        }
        // The Nyquist bin is outside libDF's groups of four.
        assert_eq!(low[NB_FREQS - 1], noisy[NB_FREQS - 1] * 0.1);
    }

    #[test]
    fn enhance_frame_applies_stage_and_limit() {
        let widths = erb_widths();
        let mut r = SpecRing::new(DF_ORDER);
        for k in 0..DF_ORDER {
            r.push(&frame(k as f32));
        }
        let gains = vec![0.5; NB_ERB];
        let coefs = vec![0.0; NB_DF * DF_ORDER * 2];
        let mut out = vec![Complex32::default(); NB_FREQS];
        let mut p = DenoiseParams::default();
        let noisy = r.get(1).to_vec();

        assert_eq!(
            enhance_frame(&r, &gains, &coefs, 25.0, DF_ORDER, 1, &widths, &p, &mut out),
            Stage::ErbOnly
        );
        assert!(out.iter().zip(&noisy).all(|(o, n)| *o == n * 0.5));

        assert_eq!(
            enhance_frame(&r, &gains, &coefs, 0.0, DF_ORDER, 1, &widths, &p, &mut out),
            Stage::ErbAndDf
        );
        assert!(out[..NB_DF].iter().all(|o| *o == Complex32::default()));
        assert!(out[NB_DF..]
            .iter()
            .zip(&noisy[NB_DF..])
            .all(|(o, n)| *o == n * 0.5));

        assert_eq!(
            enhance_frame(&r, &gains, &coefs, 40.0, DF_ORDER, 1, &widths, &p, &mut out),
            Stage::Passthrough
        );
        assert_eq!(out, noisy);

        p.atten_lim_db = Some(6.0);
        let lim = 10f32.powf(-6.0 / 20.0);
        assert_eq!(
            enhance_frame(&r, &gains, &coefs, -20.0, DF_ORDER, 1, &widths, &p, &mut out),
            Stage::NoiseOnly
        );
        assert!(out
            .iter()
            .zip(&noisy)
            .all(|(o, n)| (o - n * lim).norm() <= 1e-6));

        p.atten_lim_db = Some(100.0);
        assert_eq!(p.atten_lim_gain(), None);
        enhance_frame(
            &r, &gains, &coefs, -20.0, DF_ORDER, 1, &widths, &p, &mut out,
        );
        assert!(out.iter().all(|o| *o == Complex32::default()));
    }
}
