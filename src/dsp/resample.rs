//! The one sample-rate converter of dfn4, for offline files, live devices and the training corpus:
//! rubato's synchronous FFT resampler with both block sizes fixed.
//!
//! - [`BlockResampler`]: exactly [`BlockResampler::block_in`] samples in, [`BlockResampler::block_out`]
//!   out per call, nothing allocated after construction (the live worker's unit). [`BlockResampler::new`]
//!   uses ~10 ms blocks (low delay); [`BlockResampler::aligned`] uses longer blocks whose delay is a
//!   whole number of samples on both sides, so trimming it leaves no fractional shift.
//! - [`StreamResampler`]: any number of samples per push, output delay-trimmed and sample-aligned with
//!   the input, exact total length at [`StreamResampler::finish`]; memory does not grow with the signal.
//! - [`resample`] / [`resample_to_len`]: a whole signal at once (a [`StreamResampler`] over all of it).
//!
//! Memory is bounded by construction: rates outside [`crate::config::check_sample_rate`]'s range are
//! refused, and no FFT block exceeds [`MAX_FFT_SAMPLES`] on either side (under 2 MiB per resampler,
//! measured over the whole range by `tests/resample_memory.rs`). The FFT resampler needs blocks that are multiples of `rate / gcd(from, to)` on each side,
//! which for a rate like 44,101 Hz is a whole second (and 2 s of latency through a plugin). When the
//! exact ratio needs blocks longer than wanted, the ratio is approximated by the block pair within
//! [`MAX_RATIO_ERROR`] of it that gives the shortest block ([`BlockResampler::ratio`]): the audio between the two resamplers
//! then runs that much fast or slow, which neither a listener nor the model can tell, and the way back
//! uses the exact inverse, so a round trip keeps every sample count and alignment.
use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::{Error, Result};

/// Input block of the low-delay resampler: about 10 ms, the natural hop of devices.
const LIVE_BLOCK_MS: usize = 10;
/// Target input block of the aligned resampler. Longer blocks give a sharper anti-aliasing filter (the
/// passband reaches closer to Nyquist); the block's delay is trimmed, so its length costs nothing else.
const ALIGNED_BLOCK_IN_SAMPLES: usize = 2048;
/// Largest FFT block, input or output side, of any resampler. Its memory is about 100 bytes per block
/// sample (filter and signal spectra, two FFT plans, overlap and scratch; more where the FFT length has
/// a large prime factor), under 2 MiB whatever the rates. Only rates below 6 kHz (aligned, to 48 kHz)
/// reach the cap; 8 kHz uses 12,288, 44.1 kHz 2,058.
pub const MAX_FFT_SAMPLES: usize = 16_384;
/// Largest relative error of an approximated conversion ratio offline ([`BlockResampler::aligned`]):
/// 100 ppm, 0.17 cents of pitch, within the clock tolerance of ordinary sound cards.
pub const MAX_RATIO_ERROR: f64 = 1e-4;
/// Largest relative error of an approximated ratio on the low-delay path ([`BlockResampler::new`]):
/// 0.2 %, 3.5 cents, far below what a listener or the model can tell, and enough for every rate to get
/// blocks of about 10 ms (a ratio within 0.2 % of 1, such as 48,006 Hz, is the identity). Exactness
/// does not suffer: a host's way back is the exact inverse ([`BlockResampler::inverse_of`]), so a round
/// trip keeps every sample count; only the audio between the two runs that much fast or slow.
pub const LIVE_MAX_RATIO_ERROR: f64 = 2e-3;

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn check_rates(from_hz: u32, to_hz: u32) -> Result<()> {
    crate::config::check_sample_rate(from_hz)?;
    crate::config::check_sample_rate(to_hz)
}

/// The conversion ratio as the smallest block pair `(in, out)`: exactly `(from, to) / gcd` when both
/// fit in `exact_up_to`; otherwise, of the pairs whose ratio is within `max_error` of
/// `to / from` (both sides at most `MAX_FFT_SAMPLES / 2`), the one whose input block for a wanted
/// `block_in` (a whole number of pairs) is shortest, then the one with the smaller input side; the
/// best pair there if none is that close, which the rate range rules out in practice.
fn ratio_units(
    from_hz: u32,
    to_hz: u32,
    exact_up_to: usize,
    block_in: usize,
    max_error: f64,
) -> (usize, usize) {
    let (from, to) = (from_hz as usize, to_hz as usize);
    let g = gcd(from, to);
    let exact = (from / g, to / g);
    if exact.0.max(exact.1) <= exact_up_to {
        return exact;
    }
    let limit = MAX_FFT_SAMPLES / 2;
    let ratio = to as f64 / from as f64;
    let mut best = (0, 0, f64::INFINITY);
    let mut chosen: Option<(usize, usize, usize)> = None;
    for q in 1..=limit {
        let p = (q as f64 * ratio).round() as usize;
        if p > limit {
            break;
        }
        if p == 0 {
            continue;
        }
        let err = (p as f64 / (q as f64 * ratio) - 1.0).abs();
        if err <= max_error {
            // Strictly shorter only: among equal blocks the smaller q, which is a reduced pair.
            let block = block_in.div_ceil(q) * q;
            if chosen.is_none_or(|(b, _, _)| block < b) {
                chosen = Some((block, q, p));
            }
        } else if err < best.2 {
            best = (q, p, err);
        }
    }
    if let Some((_, q, p)) = chosen {
        return (q, p);
    }
    let g = gcd(best.0, best.1);
    (best.0 / g, best.1 / g)
}

/// A mono block resampler from `from_hz` to `to_hz`; the identity when both are equal.
pub struct BlockResampler {
    fft: Option<Fft<f32>>,
    ratio: (usize, usize),
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
            .field("ratio", &self.ratio)
            .finish()
    }
}

impl BlockResampler {
    /// A low-delay resampler whose input block is about 10 ms at `from_hz` (exactly, for rates that are
    /// multiples of 100 Hz; rates whose exact ratio needs longer blocks get an approximated
    /// [`Self::ratio`]). With an odd block the true delay may differ from [`Self::delay_out_samples`] by
    /// a fraction of a sample. Rates outside the supported range are refused.
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self> {
        check_rates(from_hz, to_hz)?;
        let target_in = (from_hz as usize * LIVE_BLOCK_MS / 1000).max(1);
        let target_out = (to_hz as usize * LIVE_BLOCK_MS / 1000).max(1);
        let ratio = ratio_units(
            from_hz,
            to_hz,
            target_in.max(target_out),
            target_in,
            LIVE_MAX_RATIO_ERROR,
        );
        // One FFT unit per block: the delay is then half a block, the least this resampler allows. An
        // identity within tolerance (47,999 Hz → 48 kHz) takes the 48 kHz side's block, one hop.
        let block_in = if ratio.0 == ratio.1 {
            target_in.max(target_out)
        } else {
            target_in
        };
        Self::with_block(from_hz, to_hz, ratio, block_in)
    }

    /// The way back of `forward` (from its output rate to its input rate) with the exact inverse of its
    /// ratio, so a round trip keeps every sample count even when `forward`'s ratio is approximated, and
    /// the blocks of both sides repeat together; low-delay blocks as [`Self::new`].
    pub fn inverse_of(forward: &Self, from_hz: u32, to_hz: u32) -> Result<Self> {
        check_rates(from_hz, to_hz)?;
        let ratio = (forward.ratio.1, forward.ratio.0);
        let block_in = if ratio.0 == ratio.1 {
            forward.block_out
        } else {
            (from_hz as usize * LIVE_BLOCK_MS / 1000).max(1)
        };
        Self::with_block(from_hz, to_hz, ratio, block_in)
    }

    /// A resampler whose delay is a whole number of samples at both rates (blocks of about 2048 input
    /// samples), for offline signals that must stay sample-aligned.
    pub fn aligned(from_hz: u32, to_hz: u32) -> Result<Self> {
        check_rates(from_hz, to_hz)?;
        // The FFT resampler works on blocks of a multiple of the ratio's input side, and its delay is
        // half the output block. An even number of minimal blocks keeps that delay an integer number of
        // samples on both sides; at most MAX_FFT_SAMPLES on either side bounds the memory.
        let ratio = ratio_units(from_hz, to_hz, ALIGNED_BLOCK_IN_SAMPLES, 1, MAX_RATIO_ERROR);
        let (min_block_in, min_block_out) = ratio;
        let mut nb_blocks = ALIGNED_BLOCK_IN_SAMPLES.div_ceil(min_block_in).max(1);
        nb_blocks += nb_blocks % 2;
        let most = (MAX_FFT_SAMPLES / min_block_in.max(min_block_out)) & !1;
        Self::with_block(
            from_hz,
            to_hz,
            ratio,
            nb_blocks.min(most).max(2) * min_block_in,
        )
    }

    fn with_block(
        from_hz: u32,
        to_hz: u32,
        ratio: (usize, usize),
        block_in: usize,
    ) -> Result<Self> {
        if ratio.0 == ratio.1 {
            return Ok(Self {
                fft: None,
                ratio: (1, 1),
                block_in,
                block_out: block_in,
                delay_out: 0,
            });
        }
        // Only the ratio matters to the FFT resampler, so it is given the (possibly approximated) block
        // pair as its rates.
        let fft = Fft::<f32>::new_custom(
            ratio.0,
            ratio.1,
            block_in,
            1,
            1,
            rubato::WindowFunction::BlackmanHarris2,
            FixedSync::Both,
        )
        .map_err(|e| {
            Error::InvalidInput(format!("cannot resample {from_hz} Hz → {to_hz} Hz: {e}"))
        })?;
        Ok(Self {
            ratio,
            block_in: fft.input_frames_next(),
            block_out: fft.output_frames_next(),
            delay_out: fft.output_delay(),
            fft: Some(fft),
        })
    }

    /// The conversion ratio actually used, as `(input, output)` samples of the smallest block:
    /// `(from, to) / gcd` unless that needs blocks longer than wanted, then an approximation within
    /// [`MAX_RATIO_ERROR`] (see the module header). `(1, 1)`: the identity.
    pub fn ratio(&self) -> (usize, usize) {
        self.ratio
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
    /// Never allocates.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> Result<()> {
        if input.len() != self.block_in || output.len() != self.block_out {
            return Err(Error::InvalidInput(format!(
                "resampler block is {} → {} samples, got {} → {}",
                self.block_in,
                self.block_out,
                input.len(),
                output.len()
            )));
        }
        let Some(fft) = self.fft.as_mut() else {
            output.copy_from_slice(input);
            return Ok(());
        };
        let frames_out = output.len();
        let src = SequentialSlice::new(input, 1, input.len())
            .map_err(|e| Error::InvalidInput(format!("resampler input: {e}")))?;
        let mut dst = SequentialSlice::new_mut(output, 1, frames_out)
            .map_err(|e| Error::InvalidInput(format!("resampler output: {e}")))?;
        fft.process_into_buffer(&src, &mut dst, None)
            .map_err(|e| Error::InvalidInput(format!("resampling failed: {e}")))?;
        Ok(())
    }
}

/// Streaming, sample-aligned conversion of one channel: push any number of samples, get the output
/// with the resampler's delay removed; [`Self::finish`] completes it to exactly
/// `ceil(pushed · to_hz / from_hz)` samples. Holds one block of each side, whatever the signal's length.
#[derive(Debug)]
pub struct StreamResampler {
    block: BlockResampler,
    from_hz: u32,
    to_hz: u32,
    pending: Vec<f32>,
    out_block: Vec<f32>,
    skip_out: usize,
    pushed: u64,
    emitted: u64,
}

impl StreamResampler {
    /// A resampler from `from_hz` to `to_hz` (see [`BlockResampler::aligned`]).
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self> {
        let block = BlockResampler::aligned(from_hz, to_hz)?;
        Ok(Self {
            pending: Vec::with_capacity(block.block_in()),
            out_block: vec![0.0; block.block_out()],
            skip_out: block.delay_out_samples(),
            block,
            from_hz,
            to_hz,
            pushed: 0,
            emitted: 0,
        })
    }

    /// Back to the state of a new signal, keeping the buffers.
    pub fn reset(&mut self) {
        if let Ok(fresh) = BlockResampler::aligned(self.from_hz, self.to_hz) {
            self.block = fresh;
        }
        self.pending.clear();
        self.skip_out = self.block.delay_out_samples();
        self.pushed = 0;
        self.emitted = 0;
    }

    /// The output length of `len` input samples: `ceil(len · to_hz / from_hz)`, with the ratio actually
    /// used ([`BlockResampler::ratio`], exact for every rate pair whose blocks fit).
    pub fn output_len(&self, len: u64) -> u64 {
        let (ratio_in, ratio_out) = self.block.ratio();
        (len * ratio_out as u64).div_ceil(ratio_in as u64)
    }

    /// Converts `input`, appending every output sample that is final to `out`.
    pub fn push(&mut self, mut input: &[f32], out: &mut Vec<f32>) -> Result<()> {
        self.pushed += input.len() as u64;
        if self.block.fft.is_none() {
            out.extend_from_slice(input);
            self.emitted += input.len() as u64;
            return Ok(());
        }
        let block_in = self.block.block_in();
        while !input.is_empty() {
            let take = (block_in - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() == block_in {
                self.run_block(out, u64::MAX)?;
            }
        }
        Ok(())
    }

    /// Flushes the tail (zero-padded) so that `out` has received exactly
    /// [`Self::output_len`]`(pushed)` samples since the start.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<()> {
        let total = self.output_len(self.pushed);
        let block_in = self.block.block_in();
        while self.emitted < total {
            self.pending.resize(block_in, 0.0);
            self.run_block(out, total)?;
        }
        Ok(())
    }

    /// Resamples the full pending block and emits its output after the delay, up to `limit` in total.
    fn run_block(&mut self, out: &mut Vec<f32>, limit: u64) -> Result<()> {
        self.block.process(&self.pending, &mut self.out_block)?;
        self.pending.clear();
        let skip = self.skip_out.min(self.out_block.len());
        self.skip_out -= skip;
        let available = &self.out_block[skip..];
        let n = (available.len() as u64).min(limit.saturating_sub(self.emitted)) as usize;
        out.extend_from_slice(&available[..n]);
        self.emitted += n as u64;
        Ok(())
    }
}

/// Resamples one whole channel from `from_hz` to `to_hz`. The output has `ceil(len · to_hz / from_hz)`
/// samples (with the ratio of [`BlockResampler::ratio`], exact for every rate pair whose blocks fit) and
/// is aligned with the input: the resampler's delay is removed exactly.
pub fn resample(samples: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>> {
    check_rates(from_hz, to_hz)?;
    if from_hz == to_hz {
        return Ok(samples.to_vec());
    }
    let mut r = StreamResampler::new(from_hz, to_hz)?;
    let mut out = Vec::with_capacity(r.output_len(samples.len() as u64) as usize);
    r.push(samples, &mut out)?;
    r.finish(&mut out)?;
    Ok(out)
}

/// Resamples and then pads or cuts to `len` samples: what a caller needs to come back to an input's
/// exact length after a round trip through another rate.
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
            (8_000, 48_000, 0),
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
    fn pushes_of_any_size_equal_one_push() {
        for (from, to) in [(44_100, 48_000), (48_000, 16_000), (48_000, 48_000)] {
            let x = signal(from, 10_007);
            let whole = resample(&x, from, to).unwrap();
            let mut r = StreamResampler::new(from, to).unwrap();
            let mut out = Vec::new();
            let mut at = 0;
            for (i, n) in [1usize, 479, 3000, 17, 2048, 9999]
                .iter()
                .cycle()
                .enumerate()
            {
                if at >= x.len() || i > 100 {
                    break;
                }
                let end = (at + n).min(x.len());
                r.push(&x[at..end], &mut out).unwrap();
                at = end;
            }
            r.finish(&mut out).unwrap();
            assert_eq!(out, whole, "{from} → {to}");
            r.reset();
            let mut again = Vec::new();
            r.push(&x, &mut again).unwrap();
            r.finish(&mut again).unwrap();
            assert_eq!(again, whole, "{from} → {to} after reset");
        }
    }

    #[test]
    fn same_rate_is_identity_and_rates_outside_the_range_are_refused() {
        let x = signal(48_000, 100);
        assert_eq!(resample(&x, 48_000, 48_000).unwrap(), x);
        for bad in [0, 1, 999, 768_001, 2_147_483_647, u32::MAX] {
            for (from, to) in [(bad, 48_000), (48_000, bad)] {
                for e in [
                    resample(&x, from, to).unwrap_err(),
                    BlockResampler::new(from, to).unwrap_err(),
                    BlockResampler::aligned(from, to).unwrap_err(),
                    StreamResampler::new(from, to).unwrap_err(),
                ] {
                    assert!(
                        matches!(e, Error::UnsupportedFormat(_)),
                        "{from} → {to}: {e}"
                    );
                }
            }
        }
    }

    /// Every supported rate to and from 48 kHz in a coarse sweep, the range's ends and the rates whose
    /// exact ratio needs the longest blocks.
    fn sweep_rates() -> Vec<u32> {
        let mut rates: Vec<u32> = (1_000..=768_000).step_by(7_919).collect();
        rates.extend([
            1_000, 1_001, 7_999, 8_000, 11_025, 22_050, 44_099, 44_100, 44_101, 47_999, 48_001,
            95_999, 96_000, 96_001, 192_000, 352_800, 767_999, 768_000,
        ]);
        rates
    }

    #[test]
    fn blocks_are_bounded_and_the_ratio_is_exact_or_within_tolerance_for_every_rate() {
        for rate in sweep_rates() {
            for (from, to) in [(rate, 48_000), (48_000, rate)] {
                let exact = f64::from(to) / f64::from(from);
                for (kind, r, tolerance) in [
                    (
                        "live",
                        BlockResampler::new(from, to).unwrap(),
                        LIVE_MAX_RATIO_ERROR,
                    ),
                    (
                        "aligned",
                        BlockResampler::aligned(from, to).unwrap(),
                        MAX_RATIO_ERROR,
                    ),
                ] {
                    let what = format!("{kind} {from} → {to}: {r:?}");
                    assert!(r.block_in() <= MAX_FFT_SAMPLES, "{what}");
                    assert!(r.block_out() <= MAX_FFT_SAMPLES, "{what}");
                    let (q, p) = r.ratio();
                    assert_eq!(r.block_in() * p, r.block_out() * q, "{what}");
                    let err = (p as f64 / q as f64 / exact - 1.0).abs();
                    assert!(err <= tolerance, "{what}: ratio error {err:e}");
                    let g = gcd(from as usize, to as usize);
                    if (from as usize / g).max(to as usize / g) <= 480 {
                        assert_eq!((q, p), (from as usize / g, to as usize / g), "{what}");
                    }
                }
            }
        }
    }

    #[test]
    fn near_48k_rates_get_short_blocks_and_a_few_ms_of_delay() {
        // Exactly, 44,101 → 48,000 needs blocks of 44,101 samples: 0.5 s of delay each way.
        for rate in [44_101, 47_999, 48_001] {
            for (from, to) in [(rate, 48_000), (48_000, rate)] {
                let r = BlockResampler::new(from, to).unwrap();
                let delay_ms = r.delay_out_samples() as f64 * 1000.0 / f64::from(to);
                assert!(delay_ms <= 6.0, "{from} → {to}: {delay_ms} ms, {r:?}");
                assert!(r.block_in() <= from as usize / 50, "{from} → {to}: {r:?}");
            }
        }
        // Within 0.2 % of 48 kHz the low-delay converter is the identity.
        assert_eq!(BlockResampler::new(47_999, 48_000).unwrap().ratio(), (1, 1));
        assert_eq!(BlockResampler::new(48_006, 48_000).unwrap().ratio(), (1, 1));
        assert_eq!(
            BlockResampler::new(48_000, 48_001)
                .unwrap()
                .delay_out_samples(),
            0
        );
    }

    #[test]
    fn an_approximated_ratio_round_trips_exactly_and_keeps_the_tone() {
        for rate in [44_101, 47_999, 1_001, 767_999] {
            let len = rate as usize / 3 + 17;
            let x = signal(rate, len);
            let up = resample(&x, rate, 48_000).unwrap();
            let r = StreamResampler::new(rate, 48_000).unwrap();
            assert_eq!(up.len() as u64, r.output_len(len as u64), "{rate}");
            let back = resample_to_len(&up, 48_000, rate, len).unwrap();
            let edge = rate as usize / 50;
            let err = max_abs_diff(&back[edge..len - edge], &x[edge..len - edge]);
            // 1,001 Hz has no passband for the test's 1.2 and 3.2 kHz tones: only the length is checked.
            if rate > 10_000 {
                assert!(err < 2e-3, "{rate}: max error {err}");
            }
        }
    }

    #[test]
    fn every_rate_gets_short_live_blocks_and_an_exact_way_back() {
        // Odd rates (a prime, rates just outside the identity window, very low ones) included.
        for rate in [
            1_001u32, 1_096, 1_499, 1_503, 7_919, 30_261, 47_903, 48_106, 96_001, 767_999,
        ] {
            let there = BlockResampler::new(rate, 48_000).unwrap();
            let back = BlockResampler::inverse_of(&there, 48_000, rate).unwrap();
            assert_eq!(back.ratio(), (there.ratio().1, there.ratio().0), "{rate}");
            let (q, p) = there.ratio();
            let err = (p as f64 * f64::from(rate) / (q as f64 * 48_000.0) - 1.0).abs();
            assert!(err <= LIVE_MAX_RATIO_ERROR, "{rate}: {err}");
            // About 10 ms, at most 25 ms, of input per block on each side.
            for (r, hz) in [(&there, rate), (&back, 48_000)] {
                let ms = r.block_in() as f64 * 1000.0 / f64::from(hz);
                assert!(ms <= 25.0, "{rate}: {ms} ms blocks, {r:?}");
            }
        }
    }

    #[test]
    fn live_blocks_are_ten_milliseconds_for_common_rates() {
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
    }

    #[test]
    fn streamed_live_blocks_reproduce_the_tone_after_the_stated_delay() {
        let tone = |rate_hz: u32, len: usize| -> Vec<f32> {
            (0..len)
                .map(|i| 0.5 * (std::f32::consts::TAU * 440.0 * i as f32 / rate_hz as f32).sin())
                .collect()
        };
        for (from, to) in [(44_100, 48_000), (48_000, 44_100), (16_000, 48_000)] {
            let mut r = BlockResampler::new(from, to).unwrap();
            let blocks = 40;
            let input = tone(from, blocks * r.block_in());
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
