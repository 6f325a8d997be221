//! Offline enhancement at any sample rate and channel count, the path behind `dfn4 enhance`, the Python
//! package and any tool that cleans files: each channel is resampled to 48 kHz, denoised by its own
//! [`Denoiser`] and resampled back, block by block. Every stage removes its delay, so the output has the
//! input's length and is sample-aligned with it; memory does not grow with the length of the audio.
//!
//! ```no_run
//! use std::sync::Arc;
//! use dfn4::backend::{default_backend, registry, ModelSource};
//! use dfn4::denoiser::DenoiseParams;
//! use dfn4::enhance::{Enhancer, FileOptions};
//!
//! let backend = Arc::new(registry::create(default_backend(), ModelSource::Embedded)?);
//! let enhancer = Enhancer::new(backend, DenoiseParams::shipped())?;
//! let report = enhancer.enhance_file(
//!     "noisy.wav".as_ref(),
//!     "clean.wav".as_ref(),
//!     &FileOptions::default(),
//!     &|done, total| eprintln!("{done}/{total} frames"),
//! )?;
//! println!("{:.1} s of audio", report.audio_s);
//! # Ok::<(), dfn4::Error>(())
//! ```
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::audio_io::source::AudioReader;
use crate::audio_io::wav::{Existing, SampleFormat};
use crate::audio_io::writer::AudioWriter;
use crate::backend::{AnyBackend, Backend};
use crate::config::{check_channels, check_sample_rate, HOP_SIZE, SAMPLE_RATE_HZ};
use crate::denoiser::{DenoiseParams, Denoiser};
use crate::dsp::resample::StreamResampler;
use crate::dsp::soft_clip::soft_clip;
use crate::{Error, Result};

/// Progress callback: `(frames_done, frames_total)` of the input, called after every block
/// (`frames_total` is 0 for a stream whose length is not known in advance).
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Hops the denoiser of a [`ChannelStream`] enhances at once ([`Denoiser::process_block`]), so the
/// native engine reads its weights once per block instead of once per hop. Measured on `dfn4 enhance`
/// (docs/benchmarks.md): 8 to 64 hops are equally fast with `native-i8`, 32 at most a few per cent
/// faster than 16 with `native`/`native-f16`; each hop of a block costs a channel about 55 KiB, so 16.
pub const DENOISE_BLOCK_HOPS: usize = 16;

/// Samples per block read from a file (all channels together), so a block of a file with many channels
/// at a high rate stays a few MiB: 2^20 samples, one second of 48 kHz audio up to 21 channels.
const BLOCK_SAMPLES: usize = 1 << 20;

/// Options of [`Enhancer::enhance_file`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FileOptions {
    /// Sample format of the output (`None`: the input's).
    pub out_format: Option<SampleFormat>,
    /// What to do when the output path holds a file already (default: refuse).
    pub existing: Existing,
    /// Bend output peaks above −1 dBFS towards full scale ([`crate::dsp::soft_clip`]) instead of
    /// letting an integer format clip them (default: off, the output is the model's).
    pub soft_clip: bool,
}

/// What [`Enhancer::enhance_file`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    /// Duration of the audio in seconds.
    pub audio_s: f64,
    /// Time spent reading, enhancing and writing, in seconds.
    pub processing_s: f64,
    /// Sample rate of input and output in Hz.
    pub sample_rate_hz: u32,
    /// Number of channels.
    pub channels: usize,
    /// Sample format of the output.
    pub out_format: SampleFormat,
    /// NaN/Inf input samples that were replaced by 0.
    pub non_finite_replaced: u64,
    /// Output samples beyond full scale (|x| > 1): clipped in an integer format, kept in float.
    pub beyond_full_scale: u64,
    /// The largest output magnitude before any clipping (1.0 = full scale; after the soft clipper
    /// when it is on).
    pub peak: f32,
}

/// Enhances whole signals with one shared backend and fixed run-time parameters.
pub struct Enhancer<B: Backend = AnyBackend> {
    backend: Arc<B>,
    params: DenoiseParams,
}

impl<B: Backend> Enhancer<B> {
    /// Checks once that a denoiser can be built from `backend` and `params`, so a bad model or
    /// parameter fails before any file is touched.
    pub fn new(backend: Arc<B>, params: DenoiseParams) -> Result<Self> {
        Denoiser::new(Arc::clone(&backend), params)?;
        Ok(Self { backend, params })
    }

    /// The backend every channel runs on.
    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// A fresh streaming enhancer of one channel at `rate_hz`.
    pub fn channel(&self, rate_hz: u32) -> Result<ChannelStream<B>> {
        ChannelStream::new(Arc::clone(&self.backend), self.params, rate_hz)
    }
}

impl<B: Backend + Send + Sync> Enhancer<B>
where
    B::State: Send,
{
    /// Enhances `channels` (equal lengths) sampled at `rate_hz`; same shape out, sample-aligned.
    /// A rate or channel count outside [`crate::config::check_format`]'s range is refused first.
    pub fn enhance<S: AsRef<[f32]> + Sync>(
        &self,
        channels: &[S],
        rate_hz: u32,
    ) -> Result<Vec<Vec<f32>>> {
        check_sample_rate(rate_hz)?;
        // No channels at all is an empty result, not an error.
        check_channels(channels.len().max(1))?;
        let frames = channels.first().map_or(0, |c| c.as_ref().len());
        if channels.iter().any(|c| c.as_ref().len() != frames) {
            return Err(Error::InvalidInput(
                "every channel must have the same length".into(),
            ));
        }
        channels
            .par_iter()
            .enumerate()
            .map(|(c, samples)| {
                let mut chain = self.channel(rate_hz)?;
                let mut out = Vec::with_capacity(frames);
                chain
                    .push(samples.as_ref(), &mut out)
                    .map_err(|e| in_channel(c, e))?;
                chain.finish(&mut out).map_err(|e| in_channel(c, e))?;
                Ok(out)
            })
            .collect()
    }

    /// Enhances the audio file `input` (WAV, or FLAC, Ogg Vorbis, MP3, AAC/M4A, ALAC with the feature
    /// `formats`) into the WAV file `output` (same rate, channels and length; the input's sample format,
    /// 16-bit for a lossy input, unless `options` says otherwise), reading and writing blocks of up to
    /// one second so memory stays constant. A regular output file appears complete or not at all, and an existing
    /// one is replaced only when `options.existing` allows it (see [`AudioWriter::create`]).
    pub fn enhance_file(
        &self,
        input: &Path,
        output: &Path,
        options: &FileOptions,
        progress: Progress<'_>,
    ) -> Result<FileReport> {
        let reader = AudioReader::open(input)?;
        self.enhance_reader(
            reader,
            options,
            progress,
            |rate_hz, format, channels, frames| {
                AudioWriter::create(output, rate_hz, format, channels, options.existing, frames)
            },
        )
    }

    /// Enhances an input (a file of any readable format, stdin) into the writer `open_output` makes once the
    /// input's rate, output format, channel count and length (`None`: a stream of unknown length) are
    /// known (a file, stdout). The writer is finished only when everything went well; dropped
    /// otherwise.
    pub fn enhance_reader(
        &self,
        mut reader: AudioReader,
        options: &FileOptions,
        progress: Progress<'_>,
        open_output: impl FnOnce(u32, SampleFormat, usize, Option<u64>) -> Result<AudioWriter>,
    ) -> Result<FileReport> {
        let start = Instant::now();
        let (rate_hz, nb_channels) = (reader.sample_rate_hz(), reader.channels());
        let total = reader.progress_frames();
        let format = options.out_format.unwrap_or(reader.format());
        let mut chains = (0..nb_channels)
            .map(|_| self.channel(rate_hz))
            .collect::<Result<Vec<_>>>()?;
        let mut writer = open_output(rate_hz, format, nb_channels, reader.exact_frames())?;
        let mut block = vec![Vec::new(); nb_channels];
        let mut outs: Vec<Vec<f32>> = vec![Vec::new(); nb_channels];
        let block_frames = (rate_hz as usize).min(BLOCK_SAMPLES / nb_channels).max(1);
        let mut peak = 0f32;
        let mut done = 0u64;
        loop {
            let n = reader.read_block(block_frames, &mut block)?;
            if n == 0 {
                break;
            }
            chains
                .par_iter_mut()
                .zip(block.par_iter())
                .zip(outs.par_iter_mut())
                .enumerate()
                .try_for_each(|(c, ((chain, x), y))| {
                    y.clear();
                    chain.push(x, y).map_err(|e| in_channel(c, e))
                })?;
            peak = peak.max(finish_block(&mut outs, options.soft_clip));
            writer.write_block(&outs)?;
            done += n as u64;
            progress(done, total);
        }
        if done == 0 {
            return Err(crate::audio_io::wav::empty_file());
        }
        chains
            .par_iter_mut()
            .zip(outs.par_iter_mut())
            .enumerate()
            .try_for_each(|(c, (chain, y))| {
                y.clear();
                chain.finish(y).map_err(|e| in_channel(c, e))
            })?;
        peak = peak.max(finish_block(&mut outs, options.soft_clip));
        writer.write_block(&outs)?;
        let beyond_full_scale = writer.beyond_full_scale();
        let out_format = writer.format();
        writer.finish()?;
        Ok(FileReport {
            audio_s: reader.frames_read() as f64 / f64::from(rate_hz),
            processing_s: start.elapsed().as_secs_f64(),
            sample_rate_hz: rate_hz,
            channels: nb_channels,
            out_format,
            non_finite_replaced: reader.non_finite_replaced(),
            beyond_full_scale,
            peak,
        })
    }
}

/// Applies the soft clipper when asked; returns the block's peak magnitude.
fn finish_block(outs: &mut [Vec<f32>], soft: bool) -> f32 {
    let mut peak = 0f32;
    for x in outs.iter_mut().flatten() {
        if soft {
            *x = soft_clip(*x);
        }
        peak = peak.max(x.abs());
    }
    peak
}

fn in_channel(c: usize, e: Error) -> Error {
    match e {
        Error::InvalidInput(m) => Error::InvalidInput(format!("{m} (channel {c})")),
        other => other,
    }
}

/// The bound on sample magnitudes (defined with the real-time repair rule in [`crate::dsp::sanitize`]):
/// offline input beyond it is refused with its position.
pub use crate::dsp::sanitize::MAX_SAMPLE_AMPLITUDE;

/// Checks that every sample is finite and within ±[`MAX_SAMPLE_AMPLITUDE`]; `first_index` is the index
/// of `samples[0]` in the whole stream (for the message).
pub fn check_samples(samples: &[f32], first_index: u64) -> Result<()> {
    match samples
        .iter()
        .position(|v| !v.is_finite() || v.abs() > MAX_SAMPLE_AMPLITUDE)
    {
        None => Ok(()),
        Some(i) => Err(Error::InvalidInput(format!(
            "sample {} is {:?}: not audio (samples must be finite and within ±{MAX_SAMPLE_AMPLITUDE}, \
             60 dB above full scale)",
            first_index + i as u64,
            samples[i]
        ))),
    }
}

/// One channel at any rate, streaming: [`Self::push`] any number of samples and get the enhanced ones
/// that are final, [`Self::finish`] for the rest. In total the output has exactly as many samples as
/// the input and is sample-aligned with it (the resamplers' and the denoiser's delays are removed).
pub struct ChannelStream<B: Backend> {
    up: StreamResampler,
    denoiser: Denoiser<B>,
    down: StreamResampler,
    /// 48 kHz input waiting for a whole block of [`DENOISE_BLOCK_HOPS`] hops, `filled` samples of it.
    block_in: Vec<f32>,
    filled: usize,
    block_out: Vec<f32>,
    /// Hops the denoiser has enhanced.
    hops_run: u64,
    /// Denoiser output samples still to drop (its latency).
    skip_48k: usize,
    pushed_48k: u64,
    emitted_48k: u64,
    at_48k: Vec<f32>,
    denoised_48k: Vec<f32>,
    pushed: u64,
    emitted: u64,
}

impl<B: Backend> ChannelStream<B> {
    /// A fresh stream of one channel sampled at `rate_hz`.
    pub fn new(backend: Arc<B>, params: DenoiseParams, rate_hz: u32) -> Result<Self> {
        check_sample_rate(rate_hz)?;
        let path_hz = SAMPLE_RATE_HZ as u32;
        let mut denoiser = Denoiser::new(backend, params)?;
        denoiser.reserve_block(DENOISE_BLOCK_HOPS)?;
        Ok(Self {
            up: StreamResampler::new(rate_hz, path_hz)?,
            down: StreamResampler::new(path_hz, rate_hz)?,
            skip_48k: denoiser.latency_samples(),
            denoiser,
            block_in: vec![0.0; DENOISE_BLOCK_HOPS * HOP_SIZE],
            filled: 0,
            block_out: vec![0.0; DENOISE_BLOCK_HOPS * HOP_SIZE],
            hops_run: 0,
            pushed_48k: 0,
            emitted_48k: 0,
            at_48k: Vec::new(),
            denoised_48k: Vec::new(),
            pushed: 0,
            emitted: 0,
        })
    }

    /// Enhances `input`, appending the output samples that are final to `out`. Refuses (before any
    /// work) samples that are not audio: NaN, infinite, or beyond ±[`MAX_SAMPLE_AMPLITUDE`].
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<()> {
        check_samples(input, self.pushed)?;
        self.pushed += input.len() as u64;
        let mut at_48k = std::mem::take(&mut self.at_48k);
        at_48k.clear();
        self.up.push(input, &mut at_48k)?;
        let result = self.denoise(&at_48k).and_then(|()| self.resample_down(out));
        self.at_48k = at_48k;
        result
    }

    /// Flushes every stage; afterwards `out` has received exactly as many samples as were pushed.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<()> {
        let mut at_48k = std::mem::take(&mut self.at_48k);
        at_48k.clear();
        self.up.finish(&mut at_48k)?;
        self.denoise(&at_48k)?;
        self.at_48k = at_48k;
        // The denoiser's last `latency` samples need zeros after the end of the signal: as many hops
        // as one at a time would run, in blocks.
        let hops_total = (self.pushed_48k + self.skip_48k_total()).div_ceil(HOP_SIZE as u64);
        while self.emitted_48k < self.pushed_48k {
            let hops = (hops_total - self.hops_run).min(DENOISE_BLOCK_HOPS as u64) as usize;
            debug_assert!(hops * HOP_SIZE >= self.filled);
            self.block_in[self.filled..hops * HOP_SIZE].fill(0.0);
            self.filled = hops * HOP_SIZE;
            self.run_block()?;
        }
        self.resample_down(out)?;
        let before = out.len();
        self.down.finish(out)?;
        self.emitted += (out.len() - before) as u64;
        // The round trip through 48 kHz can give a few samples more than the input had: cut them.
        if self.emitted > self.pushed {
            let extra = (self.emitted - self.pushed) as usize;
            out.truncate(out.len() - extra.min(out.len()));
            self.emitted = self.pushed;
        }
        out.resize(out.len() + (self.pushed - self.emitted) as usize, 0.0);
        self.emitted = self.pushed;
        Ok(())
    }

    /// Delay of the denoiser alone, in 48 kHz samples (removed from this stream's output).
    pub fn denoiser_latency_samples(&self) -> usize {
        self.denoiser.latency_samples()
    }

    fn resample_down(&mut self, out: &mut Vec<f32>) -> Result<()> {
        let before = out.len();
        self.down.push(&self.denoised_48k, out)?;
        self.denoised_48k.clear();
        self.emitted += (out.len() - before) as u64;
        Ok(())
    }

    /// The denoiser's whole delay, in 48 kHz samples.
    fn skip_48k_total(&self) -> u64 {
        self.denoiser.latency_samples() as u64
    }

    /// Feeds 48 kHz samples through the block FIFO and the denoiser into `denoised_48k`.
    fn denoise(&mut self, mut x: &[f32]) -> Result<()> {
        self.pushed_48k += x.len() as u64;
        while !x.is_empty() {
            let take = (self.block_in.len() - self.filled).min(x.len());
            self.block_in[self.filled..self.filled + take].copy_from_slice(&x[..take]);
            self.filled += take;
            x = &x[take..];
            if self.filled == self.block_in.len() {
                self.run_block()?;
            }
        }
        Ok(())
    }

    /// Enhances the `filled` samples of `block_in` (whole hops) and keeps what is due of the output.
    fn run_block(&mut self) -> Result<()> {
        debug_assert!(self.filled.is_multiple_of(HOP_SIZE));
        let len = self.filled;
        let resets = self.denoiser.health().resets;
        self.denoiser
            .process_block(&self.block_in[..len], &mut self.block_out[..len])?;
        self.filled = 0;
        self.hops_run += (len / HOP_SIZE) as u64;
        // The denoiser silences a non-finite hop and resets itself (what a real-time path needs);
        // offline, a file with a silent gap would hide the failure, so it is an error here.
        let out = &self.block_out[..len];
        if self.denoiser.health().resets != resets || out.iter().any(|x| !x.is_finite()) {
            return Err(Error::Backend(
                "the denoiser produced NaN/Inf samples".into(),
            ));
        }
        let skip = self.skip_48k.min(len);
        self.skip_48k -= skip;
        let room = self.pushed_48k.saturating_sub(self.emitted_48k) as usize;
        let n = (len - skip).min(room);
        self.denoised_48k.extend_from_slice(&out[skip..skip + n]);
        self.emitted_48k += n as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::native::NativeBackend;
    use crate::config::ModelConfig;
    use crate::dsp::resample::{resample, resample_to_len};
    use crate::model::Weights;

    #[test]
    fn samples_that_are_not_audio_are_refused_with_their_index() {
        assert!(
            check_samples(&[0.0, -1.0, MAX_SAMPLE_AMPLITUDE, -MAX_SAMPLE_AMPLITUDE], 0).is_ok()
        );
        for bad in [f32::NAN, f32::INFINITY, 1e38, -2000.0] {
            let err = check_samples(&[0.0, 0.5, bad], 100)
                .unwrap_err()
                .to_string();
            assert!(err.contains("sample 102 is"), "{err}");
            assert!(err.contains("not audio"), "{err}");
        }
    }

    fn backend() -> Arc<NativeBackend> {
        Arc::new(NativeBackend::new(&Weights::random(&ModelConfig::default(), 11)).unwrap())
    }

    fn noise(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn equals_whole_signal_processing_at_every_rate_and_push_size() {
        let be = backend();
        let params = DenoiseParams::default();
        for rate_hz in [48_000, 44_100, 16_000] {
            // 0.8 s: several whole blocks of the denoiser and a partial one at every rate.
            let x = noise(rate_hz as usize * 4 / 5 + 123, rate_hz);
            // The reference: whole-signal resampling, Denoiser::process_signal, back to the input length.
            let up = resample(&x, rate_hz, 48_000).unwrap();
            let den = Denoiser::new(Arc::clone(&be), params)
                .unwrap()
                .process_signal(&up)
                .unwrap();
            let want = resample_to_len(&den, 48_000, rate_hz, x.len()).unwrap();
            for push in [1usize, 480, 4_097, x.len()] {
                let mut chain = ChannelStream::new(Arc::clone(&be), params, rate_hz).unwrap();
                let mut out = Vec::new();
                for part in x.chunks(push) {
                    chain.push(part, &mut out).unwrap();
                }
                chain.finish(&mut out).unwrap();
                assert_eq!(out.len(), x.len(), "{rate_hz} Hz, pushes of {push}");
                assert_eq!(out, want, "{rate_hz} Hz, pushes of {push}");
            }
        }
    }

    #[test]
    fn enhance_keeps_shape_and_channels_are_independent() {
        let enhancer = Enhancer::new(backend(), DenoiseParams::default()).unwrap();
        let (a, b) = (noise(7_000, 1), noise(7_000, 2));
        let both = enhancer.enhance(&[a.clone(), b.clone()], 22_050).unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(both[0], enhancer.enhance(&[a], 22_050).unwrap()[0]);
        assert_eq!(both[1], enhancer.enhance(&[b], 22_050).unwrap()[0]);
        assert!(enhancer
            .enhance(&[vec![0.0; 3], vec![0.0; 4]], 48_000)
            .is_err());
        assert_eq!(
            enhancer.enhance(&[Vec::<f32>::new()], 48_000).unwrap(),
            [Vec::<f32>::new()]
        );
    }

    #[test]
    fn files_equal_in_memory_enhancement_and_report_progress() {
        use crate::audio_io::{read_wav, write_wav_atomic};
        use std::sync::atomic::{AtomicU64, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (dir.path().join("in.wav"), dir.path().join("out.wav"));
        let x = vec![noise(100_000, 3), noise(100_000, 4)];
        write_wav_atomic(&input, 44_100, SampleFormat::F32, &x).unwrap();
        let enhancer = Enhancer::new(backend(), DenoiseParams::default()).unwrap();
        let last = AtomicU64::new(0);
        let report = enhancer
            .enhance_file(&input, &output, &FileOptions::default(), &|done, total| {
                assert_eq!(total, 100_000);
                last.store(done, Ordering::Relaxed);
            })
            .unwrap();
        assert_eq!(last.load(Ordering::Relaxed), 100_000);
        assert_eq!((report.channels, report.sample_rate_hz), (2, 44_100));
        let y = read_wav(&output).unwrap();
        assert_eq!(y.channels, enhancer.enhance(&x, 44_100).unwrap());
    }
}
