//! The Vorbis window and libDF's analysis normalisation.
//!
//! The Vorbis window `w[n] = sin(π/2 · sin²(π (n + ½) / N))` is power-complementary at 50 % overlap
//! (`w[n]² + w[n + N/2]² = 1`), so windowing in both analysis and synthesis reconstructs perfectly.
use crate::config::{FFT_SIZE, HOP_SIZE};

/// Vorbis window of `fft_size` samples, computed in f64 and rounded to f32 (as libDF does).
pub fn vorbis_window(fft_size: usize) -> Vec<f32> {
    let half = (fft_size / 2) as f64;
    let pi = std::f64::consts::PI;
    (0..fft_size)
        .map(|n| {
            let s = (0.5 * pi * (n as f64 + 0.5) / half).sin();
            (0.5 * pi * s * s).sin() as f32
        })
        .collect()
}

/// Scale applied to every analysis spectrum: `2·hop / fft²` (libDF's `wnorm`).
///
/// The inverse real FFT is unnormalised (it multiplies by `fft_size`), so the round trip gains
/// `fft_size · wnorm = 2·hop / fft_size = 1` at 50 % overlap; synthesis therefore needs no extra scale.
pub fn analysis_norm(fft_size: usize, hop_size: usize) -> f32 {
    // Same float expression as libDF so spectra match bit for bit in the common case.
    1.0 / ((fft_size * fft_size) as f32 / (2 * hop_size) as f32)
}

/// [`vorbis_window`] for the signal path's FFT size.
pub fn default_window() -> Vec<f32> {
    vorbis_window(FFT_SIZE)
}

/// [`analysis_norm`] for the signal path's FFT and hop sizes.
pub fn default_analysis_norm() -> f32 {
    analysis_norm(FFT_SIZE, HOP_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_power_complementary() {
        let w = default_window();
        assert_eq!(w.len(), FFT_SIZE);
        for n in 0..HOP_SIZE {
            let sum = w[n] * w[n] + w[n + HOP_SIZE] * w[n + HOP_SIZE];
            assert!((sum - 1.0).abs() < 1e-6, "n={n}: {sum}");
        }
    }

    #[test]
    fn window_is_symmetric_and_bounded() {
        let w = default_window();
        for n in 0..FFT_SIZE {
            assert!((w[n] - w[FFT_SIZE - 1 - n]).abs() < 1e-7);
            assert!(w[n] > 0.0 && w[n] <= 1.0);
        }
    }

    #[test]
    fn norm_makes_round_trip_unit_gain() {
        assert!((default_analysis_norm() * FFT_SIZE as f32 - 1.0).abs() < 1e-7);
    }
}
