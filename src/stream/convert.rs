//! Sample conversions done inside the audio callbacks: any device sample format and channel count to
//! mono `f32` and back, and block peak levels. Plain loops over caller-provided buffers.
use cpal::{FromSample, Sample};

/// Mixes interleaved `channels`-channel frames down to mono (the channels' mean); writes
/// `interleaved.len() / channels` samples to the front of `mono`.
pub fn mix_to_mono<T>(interleaved: &[T], channels: usize, mono: &mut [f32])
where
    T: Sample,
    f32: FromSample<T>,
{
    debug_assert!(channels > 0);
    debug_assert!(mono.len() >= interleaved.len() / channels);
    if channels == 1 {
        for (out, &s) in mono.iter_mut().zip(interleaved) {
            *out = f32::from_sample(s);
        }
        return;
    }
    let scale = 1.0 / channels as f32;
    for (out, frame) in mono.iter_mut().zip(interleaved.chunks_exact(channels)) {
        let sum: f32 = frame.iter().map(|&s| f32::from_sample(s)).sum();
        *out = sum * scale;
    }
}

/// Writes mono samples to every channel of interleaved frames (clamped to [-1, 1] first, so integer
/// formats saturate instead of wrapping).
pub fn spread_mono<T>(mono: &[f32], channels: usize, interleaved: &mut [T])
where
    T: Sample + FromSample<f32>,
{
    debug_assert!(channels > 0);
    for (frame, &s) in interleaved.chunks_exact_mut(channels).zip(mono) {
        let v = T::from_sample(s.clamp(-1.0, 1.0));
        frame.fill(v);
    }
}

/// Peak level of `samples` in dBFS (−∞ for silence).
pub fn peak_dbfs(samples: &[f32]) -> f32 {
    let peak = samples.iter().fold(0.0f32, |m, &s| m.max(s.abs()));
    if peak > 0.0 {
        20.0 * peak.log10()
    } else {
        f32::NEG_INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_mixes_to_the_mean_and_mono_duplicates() {
        let stereo = [0.5f32, -0.5, 1.0, 0.0, 0.25, 0.25];
        let mut mono = [9.0f32; 4];
        mix_to_mono(&stereo, 2, &mut mono);
        assert_eq!(mono, [0.0, 0.5, 0.25, 9.0]);
        let mut out = [0.0f32; 6];
        spread_mono(&mono[..3], 2, &mut out);
        assert_eq!(out, [0.0, 0.0, 0.5, 0.5, 0.25, 0.25]);
    }

    #[test]
    fn integer_formats_convert_and_saturate() {
        let input = [i16::MAX, i16::MIN, 0];
        let mut mono = [0.0f32; 3];
        mix_to_mono(&input, 1, &mut mono);
        assert!((mono[0] - 1.0).abs() < 1e-4 && mono[1] == -1.0 && mono[2] == 0.0);
        let mut out = [0i16; 3];
        spread_mono(&[2.0, -2.0, 0.5], 1, &mut out);
        assert_eq!(out[0], i16::MAX);
        assert_eq!(out[1], i16::MIN);
        assert_eq!(out[2], 16384);
        let mut u = [0u8; 2];
        spread_mono(&[0.0, 0.0], 2, &mut u);
        assert_eq!(u, [128, 128], "unsigned silence is the midpoint");
    }

    #[test]
    fn peak_in_dbfs() {
        assert_eq!(peak_dbfs(&[0.0, 0.0]), f32::NEG_INFINITY);
        assert!((peak_dbfs(&[0.1, -0.5]) - (-6.0206)).abs() < 1e-3);
    }
}
