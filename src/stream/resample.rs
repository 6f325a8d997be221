//! Streaming sample-rate conversion between a device rate and the 48 kHz signal path, one fixed block
//! at a time, on the worker thread. rubato's synchronous FFT resampler with both block sizes fixed:
//! every call turns exactly [`BlockResampler::block_in`] samples into [`BlockResampler::block_out`],
//! so the worker's bookkeeping stays in whole blocks and nothing is allocated after construction.
use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::{Error, Result};

/// Input block of about 10 ms: the natural hop of devices, small enough to keep the delay low.
const TARGET_BLOCK_MS: usize = 10;

/// A mono block resampler from `from_hz` to `to_hz`; the identity when both are equal.
pub struct BlockResampler {
    fft: Option<Fft<f32>>,
    block_in: usize,
    block_out: usize,
    delay_out: usize,
}

impl std::fmt::Debug for BlockResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockResampler")
            .field("block_in", &self.block_in)
            .field("block_out", &self.block_out)
            .field("delay_out", &self.delay_out)
            .finish()
    }
}

impl BlockResampler {
    /// A resampler whose input block is about 10 ms at `from_hz` (exactly, for rates that are
    /// multiples of 100 Hz).
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self> {
        if from_hz == 0 || to_hz == 0 {
            return Err(Error::InvalidInput(format!(
                "cannot resample from {from_hz} Hz to {to_hz} Hz"
            )));
        }
        let target_in = (from_hz as usize * TARGET_BLOCK_MS / 1000).max(1);
        if from_hz == to_hz {
            return Ok(Self {
                fft: None,
                block_in: target_in,
                block_out: target_in,
                delay_out: 0,
            });
        }
        // One FFT unit per block: the delay is then half a block, the least this resampler allows
        // for the block length.
        let fft = Fft::<f32>::new_custom(
            from_hz as usize,
            to_hz as usize,
            target_in,
            1,
            1,
            rubato::WindowFunction::BlackmanHarris2,
            FixedSync::Both,
        )
        .map_err(|e| Error::Audio(format!("cannot resample {from_hz} Hz → {to_hz} Hz: {e}")))?;
        Ok(Self {
            block_in: fft.input_frames_next(),
            block_out: fft.output_frames_next(),
            delay_out: fft.output_delay(),
            fft: Some(fft),
        })
    }

    /// Samples consumed per call.
    pub fn block_in(&self) -> usize {
        self.block_in
    }

    /// Samples produced per call.
    pub fn block_out(&self) -> usize {
        self.block_out
    }

    /// Delay of the output behind the input, in output samples.
    pub fn delay_out_samples(&self) -> usize {
        self.delay_out
    }

    /// Converts one block: `input` has [`Self::block_in`] samples, `output` [`Self::block_out`].
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> Result<()> {
        debug_assert_eq!(input.len(), self.block_in);
        debug_assert_eq!(output.len(), self.block_out);
        let Some(fft) = self.fft.as_mut() else {
            output.copy_from_slice(input);
            return Ok(());
        };
        let frames_out = output.len();
        let src = SequentialSlice::new(input, 1, input.len())
            .map_err(|e| Error::Audio(format!("resampler input: {e}")))?;
        let mut dst = SequentialSlice::new_mut(output, 1, frames_out)
            .map_err(|e| Error::Audio(format!("resampler output: {e}")))?;
        fft.process_into_buffer(&src, &mut dst, None)
            .map_err(|e| Error::Audio(format!("resampling failed: {e}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate_hz: u32, len: usize, f_hz: f32) -> Vec<f32> {
        // The same formula as the reference in the test below.
        (0..len)
            .map(|i| 0.5 * (std::f32::consts::TAU * f_hz * i as f32 / rate_hz as f32).sin())
            .collect()
    }

    #[test]
    fn blocks_are_ten_milliseconds_for_common_rates() {
        for (from, to, bin, bout) in [
            (44_100, 48_000, 441, 480),
            (48_000, 44_100, 480, 441),
            (16_000, 48_000, 160, 480),
            (48_000, 48_000, 480, 480),
            (96_000, 48_000, 960, 480),
        ] {
            let r = BlockResampler::new(from, to).unwrap();
            assert_eq!((r.block_in(), r.block_out()), (bin, bout), "{from} → {to}");
        }
        assert!(BlockResampler::new(0, 48_000).is_err());
    }

    #[test]
    fn streamed_blocks_reproduce_the_tone_after_the_stated_delay() {
        for (from, to) in [(44_100, 48_000), (48_000, 44_100), (16_000, 48_000)] {
            let mut r = BlockResampler::new(from, to).unwrap();
            let blocks = 40;
            let input = tone(from, blocks * r.block_in(), 440.0);
            let mut output = vec![0.0; blocks * r.block_out()];
            for (i, o) in input
                .chunks(r.block_in())
                .zip(output.chunks_mut(r.block_out()))
            {
                r.process(i, o).unwrap();
            }
            // With an odd input block the FFT's centre falls between two input samples, so the true
            // delay may differ from the stated one by a fraction of a sample: find it within ±1.
            let d = r.delay_out_samples() as f32;
            let skip = to as usize / 20 + d as usize + 1;
            let err_at = |delta: f32| -> f32 {
                output
                    .iter()
                    .enumerate()
                    .skip(skip)
                    .map(|(n, &y)| {
                        let t = (n as f32 - delta) / to as f32;
                        (y - 0.5 * (std::f32::consts::TAU * 440.0 * t).sin()).abs()
                    })
                    .fold(0.0, f32::max)
            };
            let (err, delta) = (0..=40)
                .map(|k| d - 1.0 + k as f32 * 0.05)
                .map(|delta| (err_at(delta), delta))
                .fold((f32::MAX, 0.0), |a, b| if b.0 < a.0 { b } else { a });
            assert!(
                (delta - d).abs() <= 1.0,
                "{from} → {to}: delay {delta} vs {d}"
            );
            assert!(err < 2e-3, "{from} → {to}: max error {err}");
        }
    }
}
