//! On-the-fly noisy/clean mixtures and the host-side batch (features of the noisy mixture exactly as at
//! inference, plus the noisy and target spectra).
//!
//! Every example is a pure function of `(seed, step, index)`, so a resumed run sees exactly the data an
//! uninterrupted run would have seen, with no generator state to checkpoint.
//!
//! Band limits: no speech source has content above ~8–11 kHz (16–22 kHz files). If noise were always
//! full-band, "everything above the speech band is noise" would be true of every example. For half of
//! the examples (`band_limit_noise_prob`) the noise is band-limited to the speech's band, so the high
//! band is empty in both input and target; there the loss is indifferent to the high-band gains and the
//! model gets no push to delete high frequencies. The other half still teaches removing high-band noise.
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::augment::{
    amplitude_modulate, band_limit, burst_envelope, cascade, coloured_noise, convolve_many,
    early_reverb, hum, log_uniform, normalise_rms, power, random_eq, synthetic_rir, Biquad,
    BURST_S,
};
use super::corpus::{resample_to_48k, Clip, Corpus, SpeechSource};
use crate::config::{NB_DF, NB_ERB, SAMPLE_RATE_HZ};
use crate::dsp::features::analyze_signal;

/// Mixing probabilities and ranges.
#[derive(Debug, Clone)]
pub struct MixConfig {
    /// Segment length in samples at 48 kHz.
    pub seg_samples: usize,
    /// SNR range in dB.
    pub snr_db: (f32, f32),
    /// Mixture RMS level range in dBFS.
    pub level_dbfs: (f32, f32),
    /// Probability of synthetic reverb on the speech (target = early reverb).
    pub reverb_prob: f64,
    /// Probability that the noise is band-limited like the speech.
    pub band_limit_noise_prob: f64,
    /// Probability of an example without speech (target silence).
    pub noise_only_prob: f64,
    /// Probability of a training example without noise (the target is the input's speech, reverb
    /// aside), so that clean speech learns to pass untouched.
    pub clean_prob: f64,
    /// Probability that a training example's speech is played faster or slower (pitch and formants
    /// move with it), which makes one recorded speaker sound like several.
    pub speed_perturb_prob: f64,
    /// Largest relative speed change of that perturbation (0.15 = 0.85× … 1.15×).
    pub speed_perturb_max: f32,
    /// Share of file-noise draws that take music instead (when the corpus has music).
    pub music_prob: f64,
    /// Share of reverberant examples that use one of the corpus's rooms instead of a synthetic
    /// response (when the corpus has rooms).
    pub room_rir_prob: f64,
    /// How training speech is drawn: `None`, uniformly over clips (a source of many short clips
    /// dominates); `Some(e)`, a source with probability ∝ its hours^e (1 = by hours, 0 = every source
    /// alike), then one of its clips uniformly. Dev speech is always drawn over clips.
    pub speech_source_exponent: Option<f64>,
    /// Share of training examples (with speech and noise) whose noise comes and goes in bursts and gaps
    /// of 0.1–1.5 s ([`burst_envelope`]); during a burst the SNR is the drawn one.
    pub bursty_noise_prob: f64,
}

impl MixConfig {
    /// Defaults for `seconds`-long segments.
    pub fn new(seconds: f32) -> Self {
        Self {
            seg_samples: (seconds * SAMPLE_RATE_HZ as f32) as usize,
            snr_db: (-5.0, 20.0),
            level_dbfs: (-35.0, -15.0),
            reverb_prob: 0.3,
            band_limit_noise_prob: 0.5,
            noise_only_prob: 0.05,
            clean_prob: 0.0,
            speed_perturb_prob: 0.5,
            speed_perturb_max: 0.15,
            music_prob: 0.35,
            room_rir_prob: 0.6,
            speech_source_exponent: None,
            bursty_noise_prob: 0.0,
        }
    }
}

impl MixConfig {
    /// One line describing the mixing, recorded in the exported model's provenance.
    pub fn describe(&self) -> String {
        let pct = |p: f64| (p * 100.0).round();
        format!(
            "on the fly: {:.1} s segments, SNR {}..{} dB, level {}..{} dBFS, speech EQ, \
             {}% speed-perturbed speech (x{:.2}..x{:.2}, pitch and formants move with it), \
             {}% reverb ({}% of it from the corpus's rooms when it has them, else synthetic; \
             target = early reverb), noise files ({}% of draws music when the corpus has it) / \
             synthetic coloured, hum, modulated / babble; noise band-limited like the speech in {}% \
             of examples, {}% noise only, {}% without noise{}{}",
            self.seg_samples as f32 / SAMPLE_RATE_HZ as f32,
            self.snr_db.0,
            self.snr_db.1,
            self.level_dbfs.0,
            self.level_dbfs.1,
            pct(self.speed_perturb_prob),
            1.0 - self.speed_perturb_max,
            1.0 + self.speed_perturb_max,
            pct(self.reverb_prob),
            pct(self.room_rir_prob),
            pct(self.music_prob),
            pct(self.band_limit_noise_prob),
            pct(self.noise_only_prob),
            pct(self.clean_prob),
            match self.speech_source_exponent {
                None => String::new(),
                Some(e) => format!("; speech drawn by source (probability ∝ hours^{e}), then by clip"),
            },
            if self.bursty_noise_prob > 0.0 {
                format!(
                    "; noise in bursts and gaps of {}..{} s in {}% of examples",
                    BURST_S.0,
                    BURST_S.1,
                    pct(self.bursty_noise_prob)
                )
            } else {
                String::new()
            },
        )
    }
}

/// Which part of the corpus an example is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Training files.
    Train,
    /// Held-out files.
    Dev,
}

/// A deterministic generator for example `index` of `step`.
pub fn example_rng(seed: u64, step: u64, index: u64) -> SmallRng {
    let mut z =
        seed ^ step.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    z = (z ^ (z >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    SmallRng::seed_from_u64(z ^ (z >> 29))
}

/// A random segment of `len` samples from `clip`, tiled when the clip is shorter.
fn noise_segment(clip: &Clip, len: usize, rng: &mut SmallRng) -> Vec<f32> {
    let n = clip.samples.len();
    let mut pos = rng.random_range(0..n);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let take = (n - pos).min(len - out.len());
        out.extend_from_slice(&clip.samples[pos..pos + take]);
        pos = 0;
    }
    out
}

/// How [`speech_segment`] picks its utterances.
#[derive(Clone, Copy)]
pub(crate) enum SpeechDraw<'a> {
    /// Uniformly over the clips.
    Clips(&'a [Clip]),
    /// A source with probability ∝ `hours^exponent`, then one of its clips uniformly.
    Sources {
        clips: &'a [Clip],
        sources: &'a [SpeechSource],
        exponent: f64,
    },
}

impl<'a> SpeechDraw<'a> {
    /// The draw for `split` under `cfg` (by source only for training speech of an indexed corpus).
    fn new(corpus: &'a Corpus, split: Split, cfg: &MixConfig) -> Self {
        match (split, cfg.speech_source_exponent) {
            (Split::Train, Some(exponent)) if !corpus.speech_train_sources.is_empty() => {
                Self::Sources {
                    clips: &corpus.speech_train,
                    sources: &corpus.speech_train_sources,
                    exponent,
                }
            }
            (Split::Train, _) => Self::Clips(&corpus.speech_train),
            (Split::Dev, _) => Self::Clips(&corpus.speech_dev),
        }
    }

    pub(crate) fn pick(&self, rng: &mut SmallRng) -> &'a Clip {
        match *self {
            Self::Clips(clips) => &clips[rng.random_range(0..clips.len())],
            Self::Sources {
                clips,
                sources,
                exponent,
            } => {
                let by_hours = |s: &SpeechSource| s.hours.max(1e-9).powf(exponent);
                let total: f64 = sources.iter().map(by_hours).sum();
                // `TrainConfig::check` keeps the exponent within 0…4, where the sum is positive and
                // finite; were it not, every source is equally likely instead of a panic.
                let alike = !(total > 0.0 && total.is_finite());
                let weight = |s: &SpeechSource| if alike { 1.0 } else { by_hours(s) };
                let total = if alike { sources.len() as f64 } else { total };
                let mut r = rng.random_range(0.0..total);
                let source = sources
                    .iter()
                    .find(|s| {
                        r -= weight(s);
                        r < 0.0
                    })
                    .unwrap_or(&sources[sources.len() - 1]);
                &clips[source.clips[rng.random_range(0..source.clips.len())]]
            }
        }
    }
}

/// Utterances laid end to end with random pauses, each at a random level within ±3 dB of unit RMS.
/// Returns the segment and the lowest band limit among the utterances used.
fn speech_segment(draw: SpeechDraw<'_>, len: usize, rng: &mut SmallRng) -> (Vec<f32>, f32) {
    let mut out = vec![0.0f32; len];
    let mut band = f32::MAX;
    let mut pos = if rng.random_bool(0.5) {
        0
    } else {
        rng.random_range(0..SAMPLE_RATE_HZ / 2)
    };
    let mut first = true;
    while pos < len {
        let clip = draw.pick(rng);
        band = band.min(clip.band_hz);
        let start = if first && pos == 0 {
            rng.random_range(0..clip.samples.len())
        } else {
            0
        };
        first = false;
        let src = &clip.samples[start..];
        let take = src.len().min(len - pos);
        let rms = power(src).sqrt().max(1e-6);
        let g = 10f32.powf(rng.random_range(-3.0..3.0) / 20.0) / rms;
        for (o, s) in out[pos..pos + take].iter_mut().zip(src) {
            *o = s * g;
        }
        pos += take + rng.random_range(SAMPLE_RATE_HZ / 20..SAMPLE_RATE_HZ * 6 / 10);
    }
    (out, band)
}

fn noise_signal(
    corpus: &Corpus,
    split: Split,
    len: usize,
    music_prob: f64,
    rng: &mut SmallRng,
) -> Vec<f32> {
    let files = match split {
        Split::Train => &corpus.noise_train,
        Split::Dev if corpus.noise_dev.is_empty() => &corpus.noise_train,
        Split::Dev => &corpus.noise_dev,
    };
    let speech = match split {
        Split::Train => &corpus.speech_train,
        Split::Dev => &corpus.speech_dev,
    };
    // Music is drawn at its own share (it would otherwise count by file); dev noise includes it.
    let music = split == Split::Train && !corpus.music_train.is_empty();
    let pick = |rng: &mut SmallRng| -> Vec<f32> {
        if music && rng.random_bool(music_prob) {
            let m = &corpus.music_train;
            noise_segment(&m[rng.random_range(0..m.len())], len, rng)
        } else {
            noise_segment(&files[rng.random_range(0..files.len())], len, rng)
        }
    };
    let r: f64 = rng.random_range(0.0..1.0);
    let mut noise = if r < 0.55 && !files.is_empty() {
        let mut n = pick(rng);
        normalise_rms(&mut n);
        if rng.random_bool(0.3) {
            let mut m = pick(rng);
            normalise_rms(&mut m);
            let g = 10f32.powf(rng.random_range(-10.0..0.0) / 20.0);
            n.iter_mut().zip(&m).for_each(|(a, b)| *a += g * b);
        }
        n
    } else if r < 0.85 {
        let mut n = if rng.random_bool(0.2) {
            hum(len, rng)
        } else {
            coloured_noise(len, rng.random_range(0.0..2.0), rng)
        };
        if rng.random_bool(0.3) {
            // Slow amplitude modulation (fans, passing traffic).
            let f = log_uniform(rng, 0.1, 4.0);
            let depth = rng.random_range(0.2..0.9);
            let ph = rng.random_range(0.0..std::f32::consts::TAU);
            amplitude_modulate(&mut n, f, depth, ph);
        }
        n
    } else {
        // Babble: several talkers from the same split's speech.
        let mut n = vec![0.0; len];
        for _ in 0..rng.random_range(3..=7) {
            let (s, _) = speech_segment(SpeechDraw::Clips(speech), len, rng);
            n.iter_mut().zip(&s).for_each(|(a, b)| *a += b);
        }
        n
    };
    if rng.random_bool(0.3) {
        cascade(&random_eq(rng, 9.0), &mut noise);
    }
    normalise_rms(&mut noise);
    noise
}

/// Step between the sample rates a perturbed segment is reinterpreted at: rates that are multiples of
/// 800 Hz keep the FFT resampler's chunk sizes small (48000 / gcd ≤ 60).
const SPEED_RATE_STEP_HZ: usize = 800;

/// Speech played `rate_hz / 48000` times faster: a segment of `len · rate_hz / 48000` samples is read
/// as if recorded at `rate_hz` and resampled to 48 kHz, giving `len` samples whose pitch and formants
/// are scaled by the same factor. Returns the segment and its new band limit.
fn speed_perturbed_segment(
    draw: SpeechDraw<'_>,
    len: usize,
    rate_hz: usize,
    rng: &mut SmallRng,
) -> crate::Result<(Vec<f32>, f32)> {
    let src_len = (len * rate_hz).div_ceil(SAMPLE_RATE_HZ);
    let (src, band_hz) = speech_segment(draw, src_len, rng);
    let mut out = resample_to_48k(&src, rate_hz as u32)?;
    out.resize(len, 0.0);
    let factor = rate_hz as f32 / SAMPLE_RATE_HZ as f32;
    Ok((out, (band_hz * factor).min(SAMPLE_RATE_HZ as f32 / 2.0)))
}

/// One training pair `(noisy, target)` of `cfg.seg_samples` samples.
pub fn make_example(
    corpus: &Corpus,
    split: Split,
    cfg: &MixConfig,
    rng: &mut SmallRng,
) -> (Vec<f32>, Vec<f32>) {
    let (noisy, target, _) = make_banded_example(corpus, split, cfg, rng);
    (noisy, target)
}

/// [`make_example`] with the upper edge in Hz of the speech's recorded content: the clip's measured
/// bandwidth (moved by speed perturbation), half the rate for noise-only examples. The trainer can mask its
/// loss above it (`--mask-loss-above-band`), so that a band-limited recording teaches its own band without
/// teaching the model that speech has nothing above it.
pub fn make_banded_example(
    corpus: &Corpus,
    split: Split,
    cfg: &MixConfig,
    rng: &mut SmallRng,
) -> (Vec<f32>, Vec<f32>, f32) {
    let len = cfg.seg_samples;
    let speech_draw = SpeechDraw::new(corpus, split, cfg);
    let noise_only = split == Split::Train && rng.random_bool(cfg.noise_only_prob);
    let (mut speech, band_hz) = if noise_only {
        (vec![0.0; len], SAMPLE_RATE_HZ as f32 / 2.0)
    } else if split == Split::Train && rng.random_bool(cfg.speed_perturb_prob) {
        let max_steps =
            (cfg.speed_perturb_max * SAMPLE_RATE_HZ as f32) as i64 / SPEED_RATE_STEP_HZ as i64;
        let steps = rng.random_range(-max_steps..=max_steps);
        let rate_hz = (SAMPLE_RATE_HZ as i64 + steps * SPEED_RATE_STEP_HZ as i64) as usize;
        match speed_perturbed_segment(speech_draw, len, rate_hz, rng) {
            Ok(seg) => seg,
            // The resampler only fails on invalid rates, which the range above excludes.
            Err(_) => speech_segment(speech_draw, len, rng),
        }
    } else {
        speech_segment(speech_draw, len, rng)
    };
    // Speech EQ and narrow-band channels belong to the target: the model should not undo them.
    let mut channel = if rng.random_bool(0.5) {
        random_eq(rng, 6.0)
    } else {
        Vec::new()
    };
    if rng.random_bool(0.1) {
        channel.push(Biquad::lowpass(log_uniform(rng, 3_400.0, 8_000.0), 0.707));
    }
    cascade(&channel, &mut speech);
    let (reverberant, target) = if !noise_only && rng.random_bool(cfg.reverb_prob) {
        let rooms = &corpus.rir_train;
        let (rir, early) =
            if split == Split::Train && !rooms.is_empty() && rng.random_bool(cfg.room_rir_prob) {
                room_rir(&rooms[rng.random_range(0..rooms.len())].samples)
            } else {
                synthetic_rir(
                    rng.random_range(0.15..1.0),
                    rng.random_range(-3.0..12.0),
                    rng,
                )
            };
        let [reverberant, target] = convolve_many(&speech, [&rir, &early]);
        (reverberant, target)
    } else {
        (speech.clone(), speech)
    };
    let mut noise = noise_signal(corpus, split, len, cfg.music_prob, rng);
    if rng.random_bool(cfg.band_limit_noise_prob) {
        band_limit(&mut noise, band_hz);
    }
    let snr_db = rng.random_range(cfg.snr_db.0..cfg.snr_db.1);
    let ps = power(&reverberant);
    let pn = power(&noise).max(1e-12);
    // Drawn only when asked for, so that the default recipe's mixtures stay as they were.
    let clean = !noise_only
        && split == Split::Train
        && cfg.clean_prob > 0.0
        && rng.random_bool(cfg.clean_prob);
    let gn = if noise_only {
        1.0
    } else if clean {
        0.0
    } else {
        (ps / (pn * 10f32.powf(snr_db / 10.0))).sqrt()
    };
    // The gain came from the whole noise, so a burst keeps the drawn SNR. Drawn only when asked for, as
    // above.
    if !noise_only
        && !clean
        && split == Split::Train
        && cfg.bursty_noise_prob > 0.0
        && rng.random_bool(cfg.bursty_noise_prob)
    {
        let envelope = burst_envelope(noise.len(), rng);
        noise.iter_mut().zip(&envelope).for_each(|(n, g)| *n *= g);
    }
    let mut noisy: Vec<f32> = reverberant
        .iter()
        .zip(&noise)
        .map(|(s, n)| s + gn * n)
        .collect();
    let mut target = target;
    let level = 10f32.powf(rng.random_range(cfg.level_dbfs.0..cfg.level_dbfs.1) / 20.0);
    let mut g = level / power(&noisy).sqrt().max(1e-9);
    let peak = noisy.iter().fold(0.0f32, |m, v| m.max(v.abs())) * g;
    if peak > 0.99 {
        g *= 0.99 / peak;
    }
    noisy.iter_mut().for_each(|v| *v *= g);
    target.iter_mut().for_each(|v| *v *= g);
    (noisy, target, band_hz)
}

/// A recorded or simulated room response, cut to start 1 ms before its direct-path peak and to at most
/// 1.2 s, and its early part ([`early_reverb`], as for [`synthetic_rir`]), both scaled to a unit peak.
fn room_rir(samples: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let fs = SAMPLE_RATE_HZ as f32;
    let peak = samples
        .iter()
        .enumerate()
        .fold((0, 0.0f32), |(bi, bv), (i, v)| {
            if v.abs() > bv {
                (i, v.abs())
            } else {
                (bi, bv)
            }
        });
    let start = peak.0.saturating_sub((0.001 * fs) as usize);
    let end = samples.len().min(start + (1.2 * fs) as usize);
    let g = 1.0 / peak.1.max(1e-9);
    let rir: Vec<f32> = samples[start..end].iter().map(|v| v * g).collect();
    let early = early_reverb(&rir, peak.0 - start);
    (rir, early)
}

/// A batch in host memory, row-major with batch outermost.
#[derive(Debug, Clone)]
pub struct HostBatch {
    /// Examples.
    pub batch: usize,
    /// Frames per example.
    pub frames: usize,
    /// `[B, T, NB_ERB]` ERB features of the noisy mixture.
    pub erb: Vec<f32>,
    /// `[B, T, 2, NB_DF]` complex features of the noisy mixture.
    pub cplx: Vec<f32>,
    /// Samples per example (at 48 kHz).
    pub samples: usize,
    /// `[B, samples]` noisy mixture; the trainer analyses it on the device (`LossFn::stft`), which gives
    /// the spectrum the features came from.
    pub noisy: Vec<f32>,
    /// `[B, samples]` target signal.
    pub clean: Vec<f32>,
    /// `[B]` upper edge in Hz of each example's recorded speech content ([`make_banded_example`]).
    pub band_hz: Vec<f32>,
}

/// Mixes and analyses `batch` examples in parallel (example `i` uses `example_rng(seed, step, i)`).
pub fn make_batch(
    corpus: &Corpus,
    split: Split,
    cfg: &MixConfig,
    seed: u64,
    step: u64,
    batch: usize,
) -> HostBatch {
    make_examples(corpus, split, cfg, seed, step, 0..batch as u64)
}

/// Mixes and analyses the examples `indices` of `step` in parallel (example `i` uses
/// `example_rng(seed, step, i)`), as one batch. The trainer's dev set is `0..dev_examples` of step 0,
/// cut into batches of any size, so that it is the same set whatever the training batch size.
pub fn make_examples(
    corpus: &Corpus,
    split: Split,
    cfg: &MixConfig,
    seed: u64,
    step: u64,
    indices: std::ops::Range<u64>,
) -> HostBatch {
    let parts: Vec<_> = indices
        .into_par_iter()
        .map(|i| analysed_example(corpus, split, cfg, seed, step, i))
        .collect();
    HostBatch::from_analysed(parts, cfg.seg_samples)
}

/// [`make_batch`] on the calling thread alone: the same batch. The trainer's producers
/// ([`super::stream`]) each mix whole batches this way, several at once.
pub fn make_batch_serial(
    corpus: &Corpus,
    split: Split,
    cfg: &MixConfig,
    seed: u64,
    step: u64,
    batch: usize,
) -> HostBatch {
    let parts = (0..batch as u64)
        .map(|i| analysed_example(corpus, split, cfg, seed, step, i))
        .collect();
    HostBatch::from_analysed(parts, cfg.seg_samples)
}

/// Example `index` of `step`, mixed and analysed.
fn analysed_example(
    corpus: &Corpus,
    split: Split,
    cfg: &MixConfig,
    seed: u64,
    step: u64,
    index: u64,
) -> Analysed {
    let (noisy, target, band_hz) =
        make_banded_example(corpus, split, cfg, &mut example_rng(seed, step, index));
    Analysed::new(noisy, target, band_hz)
}

/// Noisy/target pairs of equal length (recorded dev pairs, say) as one batch, analysed in parallel; their
/// band is taken as full (no loss masking).
pub fn batch_from_pairs(pairs: Vec<(Vec<f32>, Vec<f32>)>) -> HostBatch {
    let samples = pairs.first().map_or(0, |p| p.0.len());
    debug_assert!(pairs
        .iter()
        .all(|(n, c)| n.len() == samples && c.len() == samples));
    let parts = pairs
        .into_par_iter()
        .map(|(noisy, target)| Analysed::new(noisy, target, SAMPLE_RATE_HZ as f32 / 2.0))
        .collect();
    HostBatch::from_analysed(parts, samples)
}

/// One example with its features: only the features are computed on the host; both spectra are
/// computed on the device from the signals.
struct Analysed {
    erb: Vec<f32>,
    cplx: Vec<f32>,
    noisy: Vec<f32>,
    target: Vec<f32>,
    band_hz: f32,
    frames: usize,
}

impl Analysed {
    fn new(noisy: Vec<f32>, target: Vec<f32>, band_hz: f32) -> Self {
        let a = analyze_signal(&noisy);
        Self {
            erb: a.erb,
            cplx: a.cplx,
            noisy,
            target,
            band_hz,
            frames: a.frames,
        }
    }
}

impl HostBatch {
    /// Lays the examples out batch-outermost.
    fn from_analysed(parts: Vec<Analysed>, samples: usize) -> Self {
        let batch = parts.len();
        let frames = parts.first().map_or(0, |p| p.frames);
        let mut b = HostBatch {
            batch,
            frames,
            erb: Vec::with_capacity(batch * frames * NB_ERB),
            cplx: Vec::with_capacity(batch * frames * 2 * NB_DF),
            samples,
            noisy: Vec::with_capacity(batch * samples),
            clean: Vec::with_capacity(batch * samples),
            band_hz: Vec::with_capacity(batch),
        };
        for p in parts {
            b.erb.extend(p.erb);
            b.cplx.extend(p.cplx);
            b.noisy.extend(p.noisy);
            b.clean.extend(p.target);
            b.band_hz.push(p.band_hz);
        }
        b
    }
}

/// A corpus of one `seconds`-long tone clip per part: speech 440 Hz (band `band_hz`), noise 3.1 kHz.
#[cfg(test)]
pub(crate) fn tone_corpus(seconds: usize, band_hz: f32) -> Corpus {
    let tone = |hz: f32| -> Vec<f32> {
        (0..SAMPLE_RATE_HZ * seconds)
            .map(|n| 0.1 * (std::f32::consts::TAU * hz * n as f32 / SAMPLE_RATE_HZ as f32).sin())
            .collect()
    };
    let clip = |samples: Vec<f32>| Clip {
        samples,
        band_hz,
        source: "test".into(),
    };
    Corpus {
        speech_dev: vec![clip(tone(440.0))],
        speech_train: vec![clip(tone(440.0))],
        noise_dev: vec![clip(tone(3100.0))],
        noise_train: vec![clip(tone(3100.0))],
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Frequency (Hz) of the strongest DFT bin of `x`, searched on a 5 Hz grid between 200 and 3000 Hz.
    fn peak_hz(x: &[f32]) -> f32 {
        let mut best = (0.0f32, 0.0f32);
        for k in 40..600 {
            let f = k as f32 * 5.0;
            let w = std::f32::consts::TAU * f / SAMPLE_RATE_HZ as f32;
            let (re, im) = x
                .iter()
                .enumerate()
                .fold((0.0f32, 0.0f32), |(re, im), (n, v)| {
                    (re + v * (w * n as f32).cos(), im - v * (w * n as f32).sin())
                });
            let mag = re.hypot(im);
            if mag > best.1 {
                best = (f, mag);
            }
        }
        best.0
    }

    #[test]
    fn speed_perturbation_scales_pitch_and_band_and_keeps_length() {
        let tone: Vec<f32> = (0..SAMPLE_RATE_HZ)
            .map(|n| (std::f32::consts::TAU * 1000.0 * n as f32 / SAMPLE_RATE_HZ as f32).sin())
            .collect();
        let clips = [Clip {
            samples: tone,
            band_hz: 8000.0,
            source: "test".into(),
        }];
        let len = SAMPLE_RATE_HZ / 4;
        for (rate_hz, want_hz) in [(52_800, 1100.0), (40_800, 850.0), (48_000, 1000.0)] {
            let mut rng = SmallRng::seed_from_u64(7);
            let (seg, band) =
                speed_perturbed_segment(SpeechDraw::Clips(&clips), len, rate_hz, &mut rng).unwrap();
            assert_eq!(seg.len(), len);
            // Skip the segment's possible leading pause and the resampler's edges.
            let mid = &seg[len / 2 - 2400..len / 2 + 2400];
            assert!(
                (peak_hz(mid) - want_hz).abs() <= 10.0,
                "rate {rate_hz}: peak at {} Hz, expected {want_hz} Hz",
                peak_hz(mid)
            );
            let want_band = 8000.0 * rate_hz as f32 / SAMPLE_RATE_HZ as f32;
            assert!(
                (band - want_band).abs() < 1e-3,
                "band {band} vs {want_band}"
            );
        }
    }

    #[test]
    fn dev_examples_are_never_speed_perturbed() {
        // A dev example must not depend on the perturbation settings, so dev scores stay comparable.
        let tone: Vec<f32> = (0..SAMPLE_RATE_HZ * 2)
            .map(|n| 0.1 * (std::f32::consts::TAU * 440.0 * n as f32 / SAMPLE_RATE_HZ as f32).sin())
            .collect();
        let clip = || Clip {
            samples: tone.clone(),
            band_hz: 8000.0,
            source: "test".into(),
        };
        let corpus = Corpus {
            speech_dev: vec![clip()],
            speech_train: vec![clip()],
            noise_dev: vec![clip()],
            noise_train: vec![clip()],
            ..Default::default()
        };
        let mut on = MixConfig::new(0.5);
        on.speed_perturb_prob = 1.0;
        let mut off = on.clone();
        off.speed_perturb_prob = 0.0;
        let run =
            |cfg: &MixConfig, split| make_example(&corpus, split, cfg, &mut example_rng(1, 2, 3));
        assert_eq!(run(&on, Split::Dev), run(&off, Split::Dev));
        assert_ne!(run(&on, Split::Train), run(&off, Split::Train));
    }

    #[test]
    fn examples_depend_on_their_index_not_on_the_batch_they_are_cut_into() {
        let noise: Vec<f32> = (0..SAMPLE_RATE_HZ * 2)
            .map(|n| 0.05 * ((n * 7919 % 1013) as f32 / 1013.0 - 0.5))
            .collect();
        let speech: Vec<f32> = (0..SAMPLE_RATE_HZ * 2)
            .map(|n| 0.1 * (std::f32::consts::TAU * 440.0 * n as f32 / SAMPLE_RATE_HZ as f32).sin())
            .collect();
        let clip = |samples: &Vec<f32>| Clip {
            samples: samples.clone(),
            band_hz: 8000.0,
            source: "test".into(),
        };
        let corpus = Corpus {
            speech_dev: vec![clip(&speech)],
            speech_train: vec![clip(&speech)],
            noise_dev: vec![clip(&noise)],
            noise_train: vec![clip(&noise)],
            ..Default::default()
        };
        let cfg = MixConfig::new(0.25);
        let whole = make_batch(&corpus, Split::Dev, &cfg, 5, 0, 6);
        let halves = [0..3, 3..6].map(|r| make_examples(&corpus, Split::Dev, &cfg, 5, 0, r));
        assert_eq!(whole.batch, 6);
        assert_eq!(halves[0].batch, 3);
        assert_eq!(
            [&halves[0].noisy[..], &halves[1].noisy[..]].concat(),
            whole.noisy
        );
        assert_eq!(
            [&halves[0].clean[..], &halves[1].clean[..]].concat(),
            whole.clean
        );
        assert_eq!([&halves[0].erb[..], &halves[1].erb[..]].concat(), whole.erb);
        // Different indices are different examples.
        assert_ne!(halves[0].noisy, halves[1].noisy);
    }

    #[test]
    fn speech_drawn_by_source_follows_hours_to_the_exponent() {
        // Source "many": nine clips of 1 s; source "long": one clip of 3 s (9 s against 3 s).
        let clip = |source: &str, seconds: usize| Clip {
            samples: vec![0.1; SAMPLE_RATE_HZ * seconds],
            band_hz: 8000.0,
            source: source.into(),
        };
        let mut corpus = Corpus {
            speech_train: (0..9)
                .map(|_| clip("many", 1))
                .chain([clip("long", 3)])
                .collect(),
            speech_dev: vec![clip("dev", 1)],
            ..Default::default()
        };
        corpus.index_speech_sources();
        let names: Vec<_> = corpus
            .speech_train_sources
            .iter()
            .map(|s| (s.name.as_str(), s.clips.len()))
            .collect();
        assert_eq!(names, [("many", 9), ("long", 1)]);
        let share = |exponent: Option<f64>, split: Split| {
            let mut cfg = MixConfig::new(1.0);
            cfg.speech_source_exponent = exponent;
            let draw = SpeechDraw::new(&corpus, split, &cfg);
            let mut rng = SmallRng::seed_from_u64(3);
            let n = 20_000;
            (0..n)
                .filter(|_| draw.pick(&mut rng).source == "many")
                .count() as f64
                / n as f64
        };
        let near = |got: f64, want: f64| (got - want).abs() < 0.02;
        assert!(near(share(None, Split::Train), 0.9), "over clips");
        assert!(near(share(Some(1.0), Split::Train), 0.75), "by hours");
        assert!(near(share(Some(0.0), Split::Train), 0.5), "sources alike");
        assert!(near(share(Some(0.5), Split::Train), 0.634), "between");
        assert_eq!(share(Some(1.0), Split::Dev), 0.0, "dev speech is its own");
        // An exponent whose weights overflow falls back to every source alike, never a panic.
        assert!(near(share(Some(1e6), Split::Train), 0.5), "overflow");
    }

    #[test]
    fn clean_examples_add_no_noise_and_leave_the_default_recipe_alone() {
        let corpus = tone_corpus(2, 8000.0);
        let mut cfg = MixConfig::new(0.5);
        cfg.reverb_prob = 0.0;
        cfg.noise_only_prob = 0.0;
        cfg.clean_prob = 1.0;
        for seed in 0..8 {
            let (noisy, target) =
                make_example(&corpus, Split::Train, &cfg, &mut example_rng(seed, 0, 0));
            assert_eq!(
                noisy, target,
                "seed {seed}: a clean example's input is its target"
            );
            assert!(power(&noisy) > 0.0);
        }
        // Dev mixtures never skip the noise, and a zero share draws nothing, so the mixtures of a
        // recipe without clean examples are the ones it made before the option existed.
        let (noisy, target) = make_example(&corpus, Split::Dev, &cfg, &mut example_rng(1, 0, 0));
        assert_ne!(noisy, target);
        let mut none = cfg.clone();
        none.clean_prob = 0.0;
        let (noisy, target) = make_example(&corpus, Split::Train, &none, &mut example_rng(1, 0, 0));
        assert_ne!(noisy, target);
    }

    #[test]
    fn bursty_noise_leaves_clean_gaps_and_keeps_the_snr_in_bursts() {
        let corpus = tone_corpus(4, 24_000.0);
        let mut cfg = MixConfig::new(3.0);
        cfg.reverb_prob = 0.0;
        cfg.noise_only_prob = 0.0;
        cfg.band_limit_noise_prob = 0.0;
        cfg.bursty_noise_prob = 1.0;
        // Noise energy per 50 ms window: some windows hold none (gaps), others hold the noise at the
        // level of the unchanged recipe's mixture of the same draw (bursts: the SNR is the drawn one).
        let window = SAMPLE_RATE_HZ / 20;
        let windows = |noisy: &[f32], target: &[f32]| -> Vec<f32> {
            let noise: Vec<f32> = noisy.iter().zip(target).map(|(y, s)| y - s).collect();
            noise.chunks_exact(window).map(power).collect()
        };
        // Noise over speech energy of each window.
        let snrs = |noisy: &[f32], target: &[f32]| -> Vec<f32> {
            let speech: Vec<f32> = target.chunks_exact(window).map(power).collect();
            windows(noisy, target)
                .iter()
                .zip(speech)
                .map(|(n, s)| n / s)
                .collect()
        };
        let mut none = cfg.clone();
        none.bursty_noise_prob = 0.0;
        let mut gaps = 0;
        for seed in 0..8 {
            let (noisy, target) =
                make_example(&corpus, Split::Train, &cfg, &mut example_rng(seed, 0, 0));
            let w = windows(&noisy, &target);
            let loudest = w.iter().cloned().fold(0.0, f32::max);
            assert!(loudest > 0.0);
            gaps += w.iter().filter(|&&p| p < 1e-6 * loudest).count();
            // The same draw without gating (the gate is drawn after everything else but the level):
            // the bursts' noise-to-speech ratio is the ungated one, never above it.
            let (plain_noisy, plain_target) =
                make_example(&corpus, Split::Train, &none, &mut example_rng(seed, 0, 0));
            let ratio: Vec<f32> = snrs(&noisy, &target)
                .iter()
                .zip(snrs(&plain_noisy, &plain_target))
                .map(|(a, b)| a / b)
                .collect();
            let top = ratio.iter().cloned().fold(0.0, f32::max);
            assert!(
                (top - 1.0).abs() < 1e-3,
                "seed {seed}: burst at {top} of the drawn SNR"
            );
        }
        assert!(gaps > 8 * 10, "{gaps} silent windows in 8 examples of 60");
        // Dev mixtures are never gated (nor is the gate drawn for them).
        for seed in 0..4 {
            assert_eq!(
                make_example(&corpus, Split::Dev, &cfg, &mut example_rng(seed, 0, 0)),
                make_example(&corpus, Split::Dev, &none, &mut example_rng(seed, 0, 0)),
            );
        }
    }

    #[test]
    fn examples_carry_their_speech_band_for_the_loss_mask() {
        let tone = |hz: f32| -> Vec<f32> {
            (0..SAMPLE_RATE_HZ)
                .map(|i| (std::f32::consts::TAU * hz * i as f32 / SAMPLE_RATE_HZ as f32).sin())
                .collect()
        };
        let clip = |samples: Vec<f32>, band_hz: f32| Clip {
            samples,
            band_hz,
            source: "test".into(),
        };
        let corpus = Corpus {
            speech_dev: vec![clip(tone(440.0), 7_000.0)],
            speech_train: vec![clip(tone(440.0), 11_000.0)],
            noise_dev: vec![clip(tone(3100.0), 24_000.0)],
            noise_train: vec![clip(tone(3100.0), 24_000.0)],
            ..Default::default()
        };
        let mut cfg = MixConfig::new(0.5);
        cfg.noise_only_prob = 0.0;
        // Dev examples are never speed-perturbed: the clip's band as measured.
        let (_, _, band) =
            make_banded_example(&corpus, Split::Dev, &cfg, &mut example_rng(3, 0, 0));
        assert_eq!(band, 7_000.0);
        // Training examples: the band moves with the speed (x0.85…1.15), and the batch keeps it.
        let batch = make_batch(&corpus, Split::Train, &cfg, 5, 0, 16);
        assert_eq!(batch.band_hz.len(), 16);
        assert!(
            batch
                .band_hz
                .iter()
                .all(|b| (9_350.0..=12_650.0).contains(b)),
            "{:?}",
            batch.band_hz
        );
        assert!(
            batch.band_hz.iter().any(|b| *b != 11_000.0),
            "no speed perturbation seen"
        );
        // Noise-only examples have no speech band: the whole spectrum counts.
        cfg.noise_only_prob = 1.0;
        let (_, _, band) =
            make_banded_example(&corpus, Split::Train, &cfg, &mut example_rng(3, 0, 0));
        assert_eq!(band, SAMPLE_RATE_HZ as f32 / 2.0);
        // Recorded pairs are taken as full band.
        let pairs = batch_from_pairs(vec![(tone(200.0), tone(200.0))]);
        assert_eq!(pairs.band_hz, [SAMPLE_RATE_HZ as f32 / 2.0]);
    }

    #[test]
    fn a_wider_speed_perturbation_reaches_beyond_the_default_range_and_stays_within_its_own() {
        let corpus = tone_corpus(2, 8_000.0);
        // 1 s segments: a segment's leading pause (up to 0.5 s) always leaves room for an utterance, so
        // every example has a speech band (a segment with none counts as full band).
        let mut cfg = MixConfig::new(1.0);
        cfg.noise_only_prob = 0.0;
        cfg.speed_perturb_prob = 1.0;
        cfg.speed_perturb_max = 0.3;
        let bands = make_batch(&corpus, Split::Train, &cfg, 9, 0, 64).band_hz;
        assert!(
            bands.iter().all(|b| (5_600.0..=10_400.0).contains(b)),
            "{bands:?}"
        );
        assert!(bands.iter().any(|b| *b < 6_800.0), "{bands:?}");
        assert!(bands.iter().any(|b| *b > 9_200.0), "{bands:?}");
        // No perturbation: every example keeps the clip's band.
        cfg.speed_perturb_prob = 0.0;
        let bands = make_batch(&corpus, Split::Train, &cfg, 9, 0, 16).band_hz;
        assert!(bands.iter().all(|b| *b == 8_000.0), "{bands:?}");
    }

    #[test]
    fn room_responses_start_at_the_direct_path_and_keep_20_ms_of_early_reverb() {
        // A late peak (after 5 ms of pre-delay noise), then a decaying tail.
        let fs = SAMPLE_RATE_HZ;
        let mut x: Vec<f32> = (0..fs)
            .map(|i| 0.01 * ((i * 7919) % 13) as f32 / 13.0)
            .collect();
        x[240] = -0.5;
        for (i, v) in x.iter_mut().enumerate().skip(241) {
            *v += 0.2 * (-((i - 240) as f32) / 4800.0).exp() * if i % 2 == 0 { 1.0 } else { -1.0 };
        }
        let (rir, early) = room_rir(&x);
        assert_eq!(rir[48], -1.0, "peak 1 ms in, scaled to unit magnitude");
        assert_eq!(rir.len(), fs - (240 - 48));
        // Whole up to 20 ms after the peak, nothing past 40 ms.
        assert_eq!(&early[..48 + 960], &rir[..48 + 960]);
        assert_eq!(early.len(), 48 + 1920);
        assert!(early[48 + 1919].abs() < 1e-3 * rir[48 + 1919].abs().max(1e-3));
    }
}
