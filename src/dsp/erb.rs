//! The ERB filterbank of libDF (`erb_fb`): `NB_ERB` rectangular bands, equally spaced on the ERB scale,
//! each at least `MIN_NB_ERB_FREQS` bins wide, covering all `NB_FREQS` bins. Bands are given as widths
//! in bins; band `b` covers the bins after those of bands `0..b`.
use super::Complex32;
use crate::config::{FFT_SIZE, MIN_NB_ERB_FREQS, NB_ERB, SAMPLE_RATE_HZ};

/// Hz → ERB-rate (Glasberg & Moore), in libDF's f32 form.
fn freq2erb(freq_hz: f32) -> f32 {
    9.265 * (freq_hz / (24.7 * 9.265)).ln_1p()
}

/// ERB-rate → Hz, the inverse of [`freq2erb`].
fn erb2freq(n_erb: f32) -> f32 {
    24.7 * 9.265 * ((n_erb / 9.265).exp() - 1.0)
}

/// Band widths in bins of an ERB filterbank with `nb_bands` bands over `fft_size / 2 + 1` bins.
///
/// Each band edge is the bin nearest to an equally spaced ERB-rate; a band narrower than
/// `min_nb_freqs` is widened and the excess is taken from the next band (as libDF does), and the last
/// band absorbs the Nyquist bin or gives back any overshoot so the widths sum to `fft_size / 2 + 1`.
pub fn erb_fb(sr_hz: usize, fft_size: usize, nb_bands: usize, min_nb_freqs: usize) -> Vec<usize> {
    let nb_freqs = fft_size / 2 + 1;
    let bin_width_hz = sr_hz as f32 / fft_size as f32;
    let erb_low = freq2erb(0.0);
    let erb_high = freq2erb((sr_hz / 2) as f32);
    let step = (erb_high - erb_low) / nb_bands as f32;
    let min_nb = min_nb_freqs as i64;
    let mut widths = vec![0usize; nb_bands];
    let mut prev_edge = 0i64;
    // Bins already claimed by earlier bands beyond their natural upper edge.
    let mut borrowed = 0i64;
    for (i, w) in widths.iter_mut().enumerate() {
        let edge_hz = erb2freq(erb_low + (i + 1) as f32 * step);
        let edge = (edge_hz / bin_width_hz).round() as i64;
        let natural = edge - prev_edge - borrowed;
        let width = if natural < min_nb {
            borrowed = min_nb - natural;
            min_nb
        } else {
            borrowed = 0;
            natural
        };
        *w = width as usize;
        prev_edge = edge;
    }
    // The edges end at the Nyquist bin index; one more bin makes the count `fft_size / 2 + 1`.
    widths[nb_bands - 1] += 1;
    let total: usize = widths.iter().sum();
    if total > nb_freqs {
        widths[nb_bands - 1] -= total - nb_freqs;
    }
    widths
}

/// The signal path's ERB band widths: 32 bands, at least 2 bins each, summing to 481.
pub fn erb_widths() -> Vec<usize> {
    erb_fb(SAMPLE_RATE_HZ, FFT_SIZE, NB_ERB, MIN_NB_ERB_FREQS)
}

/// Mean power `|X|²` of the bins of each band (libDF `compute_band_corr` of a spectrum with itself).
pub fn band_power(spec: &[Complex32], widths: &[usize], out: &mut [f32]) {
    debug_assert_eq!(widths.len(), out.len());
    debug_assert_eq!(widths.iter().sum::<usize>(), spec.len());
    let mut start = 0;
    for (&w, o) in widths.iter().zip(out.iter_mut()) {
        let k = 1.0 / w as f32;
        // Scaling each term (not the sum) keeps libDF's rounding.
        *o = spec[start..start + w]
            .iter()
            .fold(0.0f32, |acc, x| acc + (x.re * x.re + x.im * x.im) * k);
        start += w;
    }
}

/// Multiplies every bin by the gain of its band (libDF `apply_interp_band_gain`: each band's gain is
/// held constant over its bins).
pub fn apply_band_gains(spec: &mut [Complex32], gains: &[f32], widths: &[usize]) {
    debug_assert_eq!(widths.len(), gains.len());
    let mut start = 0;
    for (&w, &g) in widths.iter().zip(gains) {
        for x in &mut spec[start..start + w] {
            *x *= g;
        }
        start += w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NB_FREQS;

    #[test]
    fn widths_cover_all_bins_with_min_width() {
        let w = erb_widths();
        assert_eq!(w.len(), NB_ERB);
        assert_eq!(w.iter().sum::<usize>(), NB_FREQS);
        assert!(w.iter().all(|&b| b >= MIN_NB_ERB_FREQS));
        // ERB bands widen with frequency: the low bands sit at the minimum, the top band is widest.
        assert_eq!(w[0], MIN_NB_ERB_FREQS);
        assert_eq!(*w.iter().max().unwrap(), w[NB_ERB - 1]);
        assert!(w.windows(2).all(|p| p[1] + 1 >= p[0]), "{w:?}");
    }

    #[test]
    fn erb_scale_round_trips() {
        for f in [0.0f32, 100.0, 1000.0, 8000.0, 24000.0] {
            assert!((erb2freq(freq2erb(f)) - f).abs() <= 1e-3 * f.max(1.0));
        }
    }

    #[test]
    fn band_power_and_gains_are_per_band() {
        let w = erb_widths();
        let spec: Vec<Complex32> = (0..NB_FREQS)
            .map(|i| Complex32::new(i as f32 * 0.01, 1.0))
            .collect();
        let mut p = vec![0.0; NB_ERB];
        band_power(&spec, &w, &mut p);
        let mut start = 0;
        for (b, &wb) in w.iter().enumerate() {
            let mean: f32 = spec[start..start + wb]
                .iter()
                .map(|x| x.norm_sqr())
                .sum::<f32>()
                / wb as f32;
            assert!((p[b] - mean).abs() <= 1e-5 * mean);
            start += wb;
        }
        let gains: Vec<f32> = (0..NB_ERB).map(|b| b as f32 / NB_ERB as f32).collect();
        let mut g = spec.clone();
        apply_band_gains(&mut g, &gains, &w);
        let mut bin = 0;
        for (b, &wb) in w.iter().enumerate() {
            for _ in 0..wb {
                assert_eq!(g[bin], spec[bin] * gains[b]);
                bin += 1;
            }
        }
    }
}
