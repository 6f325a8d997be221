//! Differentiable enhancement and the DeepFilterNet-style losses, on the training device.
//!
//! The model's outputs at frame `t` enhance spectrum frame `j = t − lookahead` exactly as
//! `dsp::deep_filter` does at inference: ERB gains (expanded to bins by the ERB widths) multiply every
//! bin, then bins `< nb_df` are replaced by the deep filter `Σ_o coefs[t][f][o] · X[j − (O−1−la) + o][f]`
//! over the *noisy* spectrum. Frames `0 … T−1−la` are enhanced; the last `la` have no model output.
use tch::{Device, Kind, Tensor};

use crate::backend::tch::net::NetOutput;
use crate::config::{FFT_SIZE, HOP_SIZE, LSNR_MAX_DB, LSNR_MIN_DB, NB_FREQS, SAMPLE_RATE_HZ};

/// Loss weights and static tensors. DeepFilterNet 3 uses 1e3/1e3/5e2 for spectral/complex/MR-STFT; with
/// libDF's 1/960 spectrum scaling and -35..-15 dBFS mixtures our spectral MSEs are ~2e-5 against an
/// MR-STFT term of ~5e-2 (measured on the H100 at the start of training), so the spectral weights are
/// raised until each term contributes a similar share, and the LSNR head gets a visible share too.
pub struct LossFn {
    erb_expand: Tensor,
    synth_window: Tensor,
    /// libDF's analysis window (the library's `dsp::window::default_window`).
    analysis_window: Tensor,
    nb_df: i64,
    order: i64,
    lookahead: i64,
    /// Weight of the compressed spectral magnitude term.
    pub w_mag: f64,
    /// Weight of the compressed complex spectral term.
    pub w_cplx: f64,
    /// Weight of the multi-resolution STFT term.
    pub w_mrstft: f64,
    /// Weight of the LSNR term.
    pub w_lsnr: f64,
    /// Leave each example's spectrum above its speech band (the clip's measured bandwidth) out of the
    /// magnitude, complex and multi-resolution STFT terms: a band-limited recording then teaches its band
    /// without teaching the model to remove everything above it. Off: the whole spectrum, as before.
    pub mask_above_band: bool,
}

/// Loss terms of one batch (scalars on the device).
pub struct Losses {
    /// Weighted sum (what is minimised).
    pub total: Tensor,
    /// Compressed magnitude MSE.
    pub mag: Tensor,
    /// Compressed complex MSE.
    pub cplx: Tensor,
    /// Multi-resolution STFT loss.
    pub mrstft: Tensor,
    /// LSNR MSE in dB².
    pub lsnr: Tensor,
}

/// Spectra shaped `[B, T, F, 2]` (re, im).
fn compress(spec: &Tensor, gamma: f64) -> (Tensor, Tensor) {
    let pow = spec.square().sum_dim_intlist(-1, true, None) + 1e-10;
    // |x|^γ and x·|x|^(γ−1), both from the power |x|².
    let mag = pow.pow_tensor_scalar(gamma / 2.0);
    let cplx = spec * pow.pow_tensor_scalar((gamma - 1.0) / 2.0);
    (mag, cplx)
}

impl LossFn {
    /// Builds the static tensors (ERB expansion matrix, synthesis window) on `device`.
    pub fn new(
        erb_widths: &[usize],
        nb_df: usize,
        order: usize,
        lookahead: usize,
        device: Device,
    ) -> Self {
        let nb_erb = erb_widths.len();
        let mut m = vec![0.0f32; nb_erb * NB_FREQS];
        let mut f = 0;
        for (b, &w) in erb_widths.iter().enumerate() {
            for k in f..f + w {
                m[b * NB_FREQS + k] = 1.0;
            }
            f += w;
        }
        let win: Vec<f32> = (0..FFT_SIZE)
            .map(|n| {
                // Vorbis window (libDF): power-complementary at 50 % overlap.
                let s = (std::f64::consts::PI * (n as f64 + 0.5) / FFT_SIZE as f64).sin();
                (std::f64::consts::FRAC_PI_2 * s * s).sin() as f32
            })
            .collect();
        Self {
            erb_expand: Tensor::from_slice(&m)
                .reshape([nb_erb as i64, NB_FREQS as i64])
                .to_device(device),
            synth_window: Tensor::from_slice(&win).to_device(device),
            analysis_window: Tensor::from_slice(&crate::dsp::window::default_window())
                .to_device(device),
            nb_df: nb_df as i64,
            order: order as i64,
            lookahead: lookahead as i64,
            w_mag: 5e5,
            w_cplx: 5e5,
            w_mrstft: 5e2,
            w_lsnr: 1e-2,
            mask_above_band: false,
        }
    }

    /// Enhanced spectrum `[B, T−la, F, 2]` from the model outputs and the noisy spectrum `[B, T, F, 2]`.
    pub fn enhance(&self, out: &NetOutput, noisy: &Tensor) -> Tensor {
        let t = noisy.size()[1];
        let (la, o) = (self.lookahead, self.order);
        let n = t - la;
        let gains = out.gains.narrow(1, la, n).matmul(&self.erb_expand); // [B, n, F]
        let spec_g = noisy.narrow(1, 0, n) * gains.unsqueeze(-1);
        // Taps X[j − (O−1−la) + o]: pad O−1−la zero frames in front, then windows of O frames.
        let x = noisy
            .narrow(2, 0, self.nb_df)
            .constant_pad_nd([0, 0, 0, 0, o - 1 - la, 0])
            .unfold(1, o, 1); // [B, n, nb_df, 2, O]
        let (xr, xi) = (x.select(3, 0), x.select(3, 1)); // [B, n, nb_df, O]
        let c = out.coefs.narrow(1, la, n); // [B, n, nb_df, O, 2]
        let (cr, ci) = (c.select(-1, 0), c.select(-1, 1));
        let yr = (&cr * &xr - &ci * &xi).sum_dim_intlist(-1, false, None);
        let yi = (&cr * &xi + &ci * &xr).sum_dim_intlist(-1, false, None);
        let df = Tensor::stack(&[yr, yi], -1);
        let f = spec_g.size()[2];
        Tensor::cat(&[df, spec_g.narrow(2, self.nb_df, f - self.nb_df)], 2)
    }

    /// The libDF analysis of the library's `dsp::stft::Analysis` on the device, for whole signals
    /// `[B, N]` → `[B, T, F, 2]` with `T = ⌈N / hop⌉`: frame `t` is the previous hop (zeros before the
    /// start) and hop `t` (zero-padded at the end), windowed, FFT, scaled by the analysis norm. The trainer
    /// sends waveforms and computes the spectra here: half the bytes of sending spectra, and no analysis
    /// of the target on the CPU.
    pub fn stft(&self, x: &Tensor) -> Tensor {
        let n = x.size()[1];
        let hop = HOP_SIZE as i64;
        let frames = (n + hop - 1) / hop;
        let padded = x.constant_pad_nd([hop, frames * hop - n]); // [B, (T+1)·hop]
        let windows = padded.unfold(1, FFT_SIZE as i64, hop) * &self.analysis_window; // [B, T, 960]
        let spec = windows.fft_rfft(FFT_SIZE as i64, -1, "backward")
            * f64::from(crate::dsp::window::default_analysis_norm());
        spec.view_as_real()
    }

    /// Inverse of the libDF analysis (inverse FFT, Vorbis window, 50 % overlap-add): `[B, T, F, 2]` →
    /// `[B, (T+1)·hop]`.
    pub fn istft(&self, spec: &Tensor) -> Tensor {
        let (b, t) = (spec.size()[0], spec.size()[1]);
        let hop = HOP_SIZE as i64;
        // Analysis scaled by 1/FFT_SIZE, so the unnormalised inverse ("forward" norm) restores the frame.
        let frames = spec
            .contiguous()
            .view_as_complex()
            .fft_irfft(FFT_SIZE as i64, -1, "forward")
            * &self.synth_window; // [B, T, 960]
        let first = frames.narrow(2, 0, hop).constant_pad_nd([0, 0, 0, 1]);
        let second = frames.narrow(2, hop, hop).constant_pad_nd([0, 0, 1, 0]);
        (first + second).reshape([b, (t + 1) * hop])
    }

    /// All losses for one batch. `clean` is the target spectrum `[B, T, F, 2]`; `band_hz` (`[B]`) each
    /// example's speech band, read when [`Self::mask_above_band`] is on.
    pub fn compute(
        &self,
        out: &NetOutput,
        noisy: &Tensor,
        clean: &Tensor,
        band_hz: &Tensor,
    ) -> (Losses, Tensor) {
        let t = noisy.size()[1];
        let n = t - self.lookahead;
        let enh = self.enhance(out, noisy);
        let tgt = clean.narrow(1, 0, n);
        let band = self.mask_above_band.then_some(band_hz);
        let (em, ec) = compress(&enh, 0.6);
        let (tm, tc) = compress(&tgt, 0.6);
        let keep =
            band.map(|b| band_keep(b, NB_FREQS as i64, SAMPLE_RATE_HZ as f64 / FFT_SIZE as f64));
        let mag = kept_mse(&em, &tm, keep.as_ref());
        let cplx = kept_mse(&ec, &tc, keep.as_ref());

        let y = self.istft(&enh);
        let s = self.istft(&tgt);
        let mrstft = mr_stft_loss(&y, &s, band);

        let lsnr = {
            let noise = noisy.narrow(1, 0, n) - &tgt;
            let es = tgt
                .square()
                .sum_dim_intlist([-1, -2].as_slice(), false, None);
            let en = noise
                .square()
                .sum_dim_intlist([-1, -2].as_slice(), false, None);
            let target = ((es + 1e-10) / (en + 1e-10)).log10() * 10.0;
            let target = target.clamp(f64::from(LSNR_MIN_DB), f64::from(LSNR_MAX_DB));
            out.lsnr_db
                .narrow(1, self.lookahead, n)
                .mse_loss(&target, tch::Reduction::Mean)
        };
        let total =
            &mag * self.w_mag + &cplx * self.w_cplx + &mrstft * self.w_mrstft + &lsnr * self.w_lsnr;
        (
            Losses {
                total,
                mag,
                cplx,
                mrstft,
                lsnr,
            },
            enh,
        )
    }
}

/// Multi-resolution STFT loss (FFT 256/512/1024, hop ¼, Hann): compressed magnitude (γ = 0.3) and
/// compressed complex MSE, averaged over resolutions.
pub fn mr_stft_loss(y: &Tensor, s: &Tensor, band_hz: Option<&Tensor>) -> Tensor {
    let sizes = [256i64, 512, 1024];
    let mut total = Tensor::zeros([], (Kind::Float, y.device()));
    for &n in &sizes {
        let win = Tensor::hann_window(n, (Kind::Float, y.device()));
        let spec = |x: &Tensor| {
            x.stft(n, n / 4, n, Some(&win), false, true, true, false)
                .view_as_real()
                .transpose(1, 2) // [B, frames, bins, 2]
        };
        let (ym, yc) = compress(&spec(y), 0.3);
        let (sm, sc) = compress(&spec(s), 0.3);
        let keep = band_hz.map(|b| band_keep(b, n / 2 + 1, SAMPLE_RATE_HZ as f64 / n as f64));
        total = total + kept_mse(&ym, &sm, keep.as_ref()) + kept_mse(&yc, &sc, keep.as_ref());
    }
    total / sizes.len() as f64
}

/// Which of `bins` bins, `bin_hz` apart, lie at or below each example's band (`band_hz`, `[B]`): 1 or 0,
/// shaped `[B, 1, bins, 1]` to weigh spectra laid out `[B, frames, bins, C]`. A band at half the rate or
/// above keeps every bin.
fn band_keep(band_hz: &Tensor, bins: i64, bin_hz: f64) -> Tensor {
    let bins_hz = Tensor::arange(bins, (Kind::Float, band_hz.device())) * bin_hz;
    bins_hz
        .unsqueeze(0)
        .le_tensor(&band_hz.to_kind(Kind::Float).unsqueeze(1))
        .to_kind(Kind::Float) // [B, bins]
        .unsqueeze(1)
        .unsqueeze(-1)
}

/// Mean squared difference of two spectra laid out `[B, frames, bins, C]`; with `keep`
/// ([`band_keep`]) over the kept bins only (the plain mean when every bin is kept).
fn kept_mse(a: &Tensor, b: &Tensor, keep: Option<&Tensor>) -> Tensor {
    let Some(keep) = keep else {
        return a.mse_loss(b, tch::Reduction::Mean);
    };
    let size = a.size();
    let kept = keep.sum(Kind::Float) * (size[1] * size[3]) as f64;
    ((a - b).square() * keep).sum(Kind::Float) / kept.clamp_min(1.0)
}

/// Scale-invariant SDR in dB per example: `est`, `reference` shaped `[B, L]`.
pub fn si_sdr_db(est: &Tensor, reference: &Tensor) -> Tensor {
    let dot = (est * reference).sum_dim_intlist(-1, true, None);
    let alpha = dot / (reference.square().sum_dim_intlist(-1, true, None) + 1e-10);
    let proj = alpha * reference;
    let err = est - &proj;
    ((proj.square().sum_dim_intlist(-1, false, None) + 1e-10)
        / (err.square().sum_dim_intlist(-1, false, None) + 1e-10))
        .log10()
        * 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::erb::erb_widths;
    use crate::dsp::features::analyze_signal;

    #[test]
    fn device_stft_equals_the_library_analysis() {
        let loss = LossFn::new(&erb_widths(), 96, 5, 1, Device::Cpu);
        // Two signals, not a whole number of hops (the last hop is zero-padded in both).
        let n = 10 * HOP_SIZE + 123;
        let mut state = 12345u32;
        let mut noise = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let x: Vec<f32> = (0..2 * n).map(|_| noise()).collect();
        let got = loss.stft(&Tensor::from_slice(&x).reshape([2, n as i64]));
        for (i, signal) in x.chunks(n).enumerate() {
            let want = analyze_signal(signal);
            assert_eq!(got.size(), [2, want.frames as i64, NB_FREQS as i64, 2]);
            let g = Vec::<f32>::try_from(got.get(i as i64).flatten(0, -1)).unwrap();
            let w: Vec<f32> = want.spec.iter().flat_map(|z| [z.re, z.im]).collect();
            let scale = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let err = g
                .iter()
                .zip(&w)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err <= 1e-5 * scale,
                "signal {i}: max error {err} (scale {scale})"
            );
        }
    }

    fn scalar(t: &Tensor) -> f64 {
        t.double_value(&[])
    }

    #[test]
    fn kept_mse_counts_only_the_bins_within_each_band() {
        // Two examples, 3 frames, 11 bins 100 Hz apart, complex pairs. The first example differs by 1
        // below 500 Hz and by 10 above it; the second by 2 everywhere, with a full band.
        let a = Tensor::zeros([2, 3, 11, 2], (Kind::Float, Device::Cpu));
        let d: Vec<f32> = (0..2 * 3 * 11 * 2)
            .map(|i| {
                let (ex, bin) = (i / (3 * 11 * 2), (i / 2) % 11);
                match ex {
                    0 if bin <= 5 => 1.0,
                    0 => 10.0,
                    _ => 2.0,
                }
            })
            .collect();
        let b = Tensor::from_slice(&d).reshape([2, 3, 11, 2]);
        let band = Tensor::from_slice(&[500.0f32, 1000.0]);
        // Kept: 6 bins of the first example (0…500 Hz) with 1² and 11 of the second with 2².
        let want = (6.0 * 1.0 + 11.0 * 4.0) / 17.0;
        let got = scalar(&kept_mse(&a, &b, Some(&band_keep(&band, 11, 100.0))));
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        // Full bands: the plain mean.
        let full = Tensor::from_slice(&[1000.0f32, 5000.0]);
        let plain = scalar(&a.mse_loss(&b, tch::Reduction::Mean));
        let got = scalar(&kept_mse(&a, &b, Some(&band_keep(&full, 11, 100.0))));
        assert!((got - plain).abs() < 1e-6 * plain, "{got} vs {plain}");
    }

    #[test]
    fn masked_losses_equal_the_plain_ones_for_full_band_and_ignore_what_lies_above_a_band() {
        let mut loss = LossFn::new(&erb_widths(), 96, 5, 1, Device::Cpu);
        let (b, t) = (2i64, 12i64);
        let opts = (Kind::Float, Device::Cpu);
        tch::manual_seed(7);
        let out = NetOutput {
            gains: Tensor::rand([b, t, 32], opts),
            coefs: Tensor::randn([b, t, 96, 5, 2], opts) * 0.1,
            lsnr_db: Tensor::randn([b, t], opts),
        };
        let samples = t * HOP_SIZE as i64;
        let wave = |seed: i64| {
            tch::manual_seed(seed);
            Tensor::randn([b, samples], opts) * 0.1
        };
        let (noisy, clean) = (loss.stft(&wave(1)), loss.stft(&wave(2)));
        let full = Tensor::from_slice(&[24_000.0f32, 24_000.0]);
        let (plain, _) = loss.compute(&out, &noisy, &clean, &full);
        loss.mask_above_band = true;
        let (masked, _) = loss.compute(&out, &noisy, &clean, &full);
        for (name, p, m) in [
            ("mag", &plain.mag, &masked.mag),
            ("cplx", &plain.cplx, &masked.cplx),
            ("mrstft", &plain.mrstft, &masked.mrstft),
        ] {
            let (p, m) = (scalar(p), scalar(m));
            assert!((p - m).abs() <= 1e-5 * p, "{name}: {p} vs {m}");
        }
        // A target that differs only above 8 kHz (a band-limited recording of the same speech): with
        // an 8 kHz band the spectral terms do not move, without the mask they do.
        let bin_8k = (8_000 * FFT_SIZE / SAMPLE_RATE_HZ) as i64;
        let keep_low = Tensor::cat(
            &[
                Tensor::ones([1, 1, bin_8k + 20, 1], opts),
                Tensor::zeros([1, 1, NB_FREQS as i64 - bin_8k - 20, 1], opts),
            ],
            2,
        );
        let cut = &clean * &keep_low;
        let band = Tensor::from_slice(&[8_000.0f32, 8_000.0]);
        let (with_cut, _) = loss.compute(&out, &noisy, &cut, &band);
        let (with_full, _) = loss.compute(&out, &noisy, &clean, &band);
        for (name, c, f) in [
            ("mag", &with_cut.mag, &with_full.mag),
            ("cplx", &with_cut.cplx, &with_full.cplx),
        ] {
            let (c, f) = (scalar(c), scalar(f));
            assert!((c - f).abs() <= 1e-6 * f, "{name}: {c} vs {f}");
        }
        loss.mask_above_band = false;
        let (c, f) = (
            scalar(&loss.compute(&out, &noisy, &cut, &band).0.mag),
            scalar(&loss.compute(&out, &noisy, &clean, &band).0.mag),
        );
        assert!(
            (c - f).abs() > 0.01 * f,
            "unmasked, the cut must show: {c} vs {f}"
        );
    }
}
