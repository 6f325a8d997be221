//! Whole-signal sample-rate conversion with rubato's synchronous FFT resampler, delay removed, so sample
//! `n` of the output is the input at time `n / to_hz` exactly (no shift between input and output).
use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::audioadapter_buffers::owned::InterleavedOwned;
use rubato::{Fft, FixedSync, Resampler};

use crate::{Error, Result};

/// Target FFT block length on the input side. Longer blocks give a sharper anti-aliasing filter (the
/// passband reaches closer to Nyquist); the block's delay is trimmed, so its length costs nothing else.
const TARGET_BLOCK_IN_SAMPLES: usize = 2048;

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Resamples one channel from `from_hz` to `to_hz`. The output has `ceil(len * to_hz / from_hz)` samples
/// and is aligned with the input: the resampler's delay is removed exactly.
pub fn resample(samples: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>> {
    if from_hz == 0 || to_hz == 0 {
        return Err(Error::InvalidInput(format!(
            "cannot resample from {from_hz} Hz to {to_hz} Hz"
        )));
    }
    if from_hz == to_hz || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let (from, to) = (from_hz as usize, to_hz as usize);
    // The FFT resampler works on blocks of a multiple of `from / gcd` input samples, and its delay is
    // half the output block. An even number of minimal blocks keeps that delay an integer number of
    // samples on both sides, so trimming it leaves no fractional shift.
    let min_block_in = from / gcd(from, to);
    let mut nb_blocks = TARGET_BLOCK_IN_SAMPLES.div_ceil(min_block_in).max(1);
    nb_blocks += nb_blocks % 2;
    let block_in = nb_blocks * min_block_in;
    let mut resampler = Fft::<f32>::new_custom(
        from,
        to,
        block_in,
        1,
        1,
        rubato::WindowFunction::BlackmanHarris2,
        FixedSync::Both,
    )
    .map_err(|e| Error::InvalidInput(format!("cannot resample {from_hz} Hz → {to_hz} Hz: {e}")))?;
    let input = SequentialSlice::new(samples, 1, samples.len())
        .map_err(|e| Error::InvalidInput(format!("resampler input: {e}")))?;
    let out: InterleavedOwned<f32> = resampler
        .process_all(&input, samples.len(), None)
        .map_err(|e| Error::InvalidInput(format!("resampling failed: {e}")))?;
    Ok(out.take_data())
}

/// Resamples to `to_hz` and back to `from_hz`'s length `len`: the length the CLI needs to write the output
/// in the input's rate with exactly as many frames as the input had.
pub fn resample_to_len(samples: &[f32], from_hz: u32, to_hz: u32, len: usize) -> Result<Vec<f32>> {
    let mut out = resample(samples, from_hz, to_hz)?;
    out.resize(len, 0.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sum of sines well inside every rate's passband (< 3.5 kHz) with non-harmonic frequencies.
    fn signal(rate_hz: u32, len: usize) -> Vec<f32> {
        let fs = rate_hz as f32;
        (0..len)
            .map(|i| {
                let t = i as f32 / fs;
                let two_pi = std::f32::consts::TAU;
                0.4 * (two_pi * 440.0 * t).sin()
                    + 0.3 * (two_pi * 1234.5 * t + 0.3).sin()
                    + 0.2 * (two_pi * 3210.0 * t + 1.1).sin()
            })
            .collect()
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn output_length_is_ceil_of_ratio() {
        for (from, to, len) in [
            (44_100, 48_000, 1000),
            (48_000, 44_100, 999),
            (16_000, 48_000, 7),
        ] {
            let out = resample(&vec![0.1; len], from, to).unwrap();
            let expected = (len as u64 * to as u64).div_ceil(from as u64) as usize;
            assert_eq!(out.len(), expected, "{from} → {to}");
        }
    }

    #[test]
    fn resampled_signal_matches_the_signal_sampled_at_the_new_rate() {
        // Away from the edges (where the block filter sees the zero padding), the output must be the
        // same continuous signal sampled at the new rate, with no time shift.
        for (from, to) in [
            (44_100, 48_000),
            (48_000, 44_100),
            (16_000, 48_000),
            (48_000, 16_000),
            (22_050, 48_000),
            (8_000, 48_000),
            (11_025, 48_000),
            (48_000, 96_000),
            (32_000, 48_000),
        ] {
            let len = from as usize / 2;
            let out = resample(&signal(from, len), from, to).unwrap();
            let want = signal(to, out.len());
            let edge = to as usize / 20;
            let err = max_abs_diff(&out[edge..out.len() - edge], &want[edge..out.len() - edge]);
            assert!(err < 2e-3, "{from} → {to}: max error {err}");
        }
    }

    #[test]
    fn round_trip_through_48k_is_sample_aligned() {
        for rate in [44_100, 16_000, 22_050, 8_000, 96_000, 11_025] {
            let len = rate as usize / 3 + 17;
            let x = signal(rate, len);
            let up = resample(&x, rate, 48_000).unwrap();
            let back = resample_to_len(&up, 48_000, rate, len).unwrap();
            assert_eq!(back.len(), len);
            let edge = rate as usize / 50;
            let err = max_abs_diff(&back[edge..len - edge], &x[edge..len - edge]);
            assert!(err < 2e-3, "{rate}: max error {err}");
        }
    }

    #[test]
    fn same_rate_is_identity_and_zero_rate_is_refused() {
        let x = signal(48_000, 100);
        assert_eq!(resample(&x, 48_000, 48_000).unwrap(), x);
        assert!(resample(&x, 0, 48_000).is_err());
    }
}
