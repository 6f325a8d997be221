//! The per-file signal path of `dfn4 enhance`: each channel is resampled to 48 kHz, enhanced, and
//! resampled back to the input's rate and exact length; channels run in parallel. Both resampling steps
//! and the enhancer are delay-compensated, so the output is sample-aligned with the input.
use anyhow::{bail, Context, Result};
use rayon::prelude::*;

use dfn4::audio_io::resample::{resample, resample_to_len};
use dfn4::audio_io::WavAudio;
use dfn4::config::SAMPLE_RATE_HZ;

/// Progress callback: called with the number of 48 kHz samples just processed (from several threads).
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Turns one mono 48 kHz channel into its enhanced version: same length, sample-aligned.
pub trait ChannelEnhancer: Sync {
    /// Enhances `samples_48k` from a fresh state, reporting progress in samples as it goes.
    fn enhance(&self, samples_48k: &[f32], progress: Progress<'_>) -> Result<Vec<f32>>;
}

/// Number of 48 kHz samples per channel that `frames` frames at `rate_hz` become: the unit of progress.
pub fn frames_at_48k(frames: usize, rate_hz: u32) -> u64 {
    (frames as u64 * SAMPLE_RATE_HZ as u64).div_ceil(u64::from(rate_hz.max(1)))
}

/// Enhances every channel of `audio`; the result has the input's channel count, rate and length.
pub fn enhance_audio(
    audio: &WavAudio,
    enhancer: &dyn ChannelEnhancer,
    progress: Progress<'_>,
) -> Result<Vec<Vec<f32>>> {
    let rate_hz = audio.sample_rate_hz;
    let path_rate_hz = SAMPLE_RATE_HZ as u32;
    audio
        .channels
        .par_iter()
        .enumerate()
        .map(|(c, channel)| {
            let at_48k = resample(channel, rate_hz, path_rate_hz)
                .with_context(|| format!("resampling channel {c} to 48 kHz"))?;
            let enhanced = enhancer.enhance(&at_48k, progress)?;
            if enhanced.len() != at_48k.len() {
                bail!(
                    "the enhancer returned {} samples for {} (channel {c})",
                    enhanced.len(),
                    at_48k.len()
                );
            }
            if enhanced.iter().any(|x| !x.is_finite()) {
                bail!("the denoiser produced NaN/Inf samples (channel {c})");
            }
            resample_to_len(&enhanced, path_rate_hz, rate_hz, channel.len())
                .with_context(|| format!("resampling channel {c} back to {rate_hz} Hz"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfn4::audio_io::SampleFormat;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Scales by a constant: a stand-in with known, delay-free output.
    struct Gain(f32);

    impl ChannelEnhancer for Gain {
        fn enhance(&self, samples_48k: &[f32], progress: Progress<'_>) -> Result<Vec<f32>> {
            progress(samples_48k.len() as u64);
            Ok(samples_48k.iter().map(|x| x * self.0).collect())
        }
    }

    struct Broken;

    impl ChannelEnhancer for Broken {
        fn enhance(&self, samples_48k: &[f32], _: Progress<'_>) -> Result<Vec<f32>> {
            Ok(vec![f32::NAN; samples_48k.len()])
        }
    }

    fn stereo(rate_hz: u32, frames: usize) -> WavAudio {
        let tone = |f_hz: f32| -> Vec<f32> {
            (0..frames)
                .map(|i| 0.5 * (std::f32::consts::TAU * f_hz * i as f32 / rate_hz as f32).sin())
                .collect()
        };
        WavAudio {
            sample_rate_hz: rate_hz,
            format: SampleFormat::I16,
            channels: vec![tone(300.0), tone(1700.0)],
            non_finite_replaced: 0,
        }
    }

    #[test]
    fn keeps_rate_channels_length_and_alignment() {
        for rate_hz in [44_100, 16_000, 48_000] {
            let audio = stereo(rate_hz, 12_345);
            let done = AtomicU64::new(0);
            let progress = |n: u64| {
                done.fetch_add(n, Ordering::Relaxed);
            };
            let out = enhance_audio(&audio, &Gain(0.5), &progress).unwrap();
            assert_eq!(out.len(), 2);
            assert_eq!(
                done.load(Ordering::Relaxed),
                2 * frames_at_48k(12_345, rate_hz)
            );
            for (x, y) in audio.channels.iter().zip(&out) {
                assert_eq!(y.len(), x.len());
                let edge = rate_hz as usize / 50;
                let err = x[edge..x.len() - edge]
                    .iter()
                    .zip(&y[edge..x.len() - edge])
                    .map(|(a, b)| (0.5 * a - b).abs())
                    .fold(0.0, f32::max);
                assert!(err < 2e-3, "{rate_hz} Hz: max error {err}");
            }
        }
    }

    #[test]
    fn refuses_non_finite_output() {
        let err = enhance_audio(&stereo(48_000, 100), &Broken, &|_| {}).unwrap_err();
        assert!(err.to_string().contains("NaN/Inf"), "{err}");
    }
}
