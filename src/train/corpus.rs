//! The training corpus: a `manifest.json` listing mono FLAC/Vorbis/WAV files (speech, noise, music or
//! room responses; train or dev), loaded once into memory and resampled to 48 kHz. Corpus v2 writes it
//! with `scripts/corpus/build_corpus.sh`; corpus v3's shards become one with
//! `scripts/corpus/v3/to_trainer.py`.
use std::path::{Path, PathBuf};

use super::{train_bail, TrainContext};
use rayon::prelude::*;
use serde::Deserialize;

use crate::config::SAMPLE_RATE_HZ;

/// One line of the manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestEntry {
    /// File path relative to the corpus directory.
    pub path: String,
    /// "speech", "noise", "music" or "rir" (a room impulse response).
    pub kind: String,
    /// "train" or "dev".
    pub split: String,
    /// Sample rate of the file as written by the corpus tool (the file header is what is used).
    #[serde(default)]
    pub sample_rate_hz: u32,
    /// Where the audio came from (voice / package name), for provenance.
    #[serde(default)]
    pub source: String,
    /// Measured upper edge of the content in Hz (corpus v3 measures it per clip); 0 = half the rate.
    #[serde(default)]
    pub bandwidth_hz: f32,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    files: Vec<ManifestEntry>,
}

/// A loaded clip at 48 kHz.
#[derive(Debug, Clone)]
pub struct Clip {
    /// Samples at 48 kHz in [-1, 1].
    pub samples: Vec<f32>,
    /// Upper edge of the content in Hz: the measured bandwidth where the manifest has it, else half the
    /// file's original sample rate.
    pub band_hz: f32,
    /// Provenance label from the manifest.
    pub source: String,
}

/// The training speech of one source (a package or voice: the manifest's `source`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechSource {
    /// The manifest's label.
    pub name: String,
    /// Indices into [`Corpus::speech_train`].
    pub clips: Vec<usize>,
    /// Hours of audio at 48 kHz.
    pub hours: f64,
}

/// All clips, by kind and split.
#[derive(Debug, Default)]
pub struct Corpus {
    /// Training speech.
    pub speech_train: Vec<Clip>,
    /// Held-out speech (validation only).
    pub speech_dev: Vec<Clip>,
    /// Training noise.
    pub noise_train: Vec<Clip>,
    /// Held-out noise (validation only).
    pub noise_dev: Vec<Clip>,
    /// Training music (a kind of noise, drawn at its own share).
    pub music_train: Vec<Clip>,
    /// Room impulse responses for reverberant training examples (measured or simulated).
    pub rir_train: Vec<Clip>,
    /// `speech_train` grouped by source, in order of first appearance ([`Corpus::index_speech_sources`]).
    pub speech_train_sources: Vec<SpeechSource>,
}

fn hours(clips: &[Clip]) -> f64 {
    clips.iter().map(|c| c.samples.len()).sum::<usize>() as f64 / SAMPLE_RATE_HZ as f64 / 3600.0
}

impl Corpus {
    /// Hours of (speech train, speech dev, noise train, noise dev, music train).
    pub fn hours(&self) -> [f64; 5] {
        [
            hours(&self.speech_train),
            hours(&self.speech_dev),
            hours(&self.noise_train),
            hours(&self.noise_dev),
            hours(&self.music_train),
        ]
    }

    /// Distinct sources with their clip counts, sorted.
    pub fn sources(&self) -> Vec<(String, usize)> {
        let mut m = std::collections::BTreeMap::new();
        for c in self
            .speech_train
            .iter()
            .chain(&self.speech_dev)
            .chain(&self.noise_train)
            .chain(&self.noise_dev)
            .chain(&self.music_train)
            .chain(&self.rir_train)
        {
            *m.entry(c.source.clone()).or_insert(0usize) += 1;
        }
        m.into_iter().collect()
    }

    /// Groups `speech_train` by source into `speech_train_sources` (done by [`Corpus::load`]).
    pub fn index_speech_sources(&mut self) {
        let mut sources: Vec<SpeechSource> = Vec::new();
        for (i, clip) in self.speech_train.iter().enumerate() {
            let hours = clip.samples.len() as f64 / SAMPLE_RATE_HZ as f64 / 3600.0;
            match sources.iter_mut().find(|s| s.name == clip.source) {
                Some(s) => {
                    s.clips.push(i);
                    s.hours += hours;
                }
                None => sources.push(SpeechSource {
                    name: clip.source.clone(),
                    clips: vec![i],
                    hours,
                }),
            }
        }
        self.speech_train_sources = sources;
    }

    /// Loads `dir/manifest.json` and every file it lists (in parallel).
    pub fn load(dir: &Path) -> crate::Result<Self> {
        let mpath = dir.join("manifest.json");
        let text = std::fs::read_to_string(&mpath)
            .ctx(|| format!("cannot read corpus manifest {}", mpath.display()))?;
        let manifest: Manifest =
            serde_json::from_str(&text).ctx(|| format!("invalid manifest {}", mpath.display()))?;
        let loaded: Vec<(ManifestEntry, Clip)> = manifest
            .files
            .into_par_iter()
            .map(|e| {
                let p: PathBuf = dir.join(&e.path);
                let (samples, rate) =
                    read_mono(&p).ctx(|| format!("cannot load {}", p.display()))?;
                let samples = resample_to_48k(&samples, rate)?;
                let half_rate_hz = rate.min(SAMPLE_RATE_HZ as u32) as f32 / 2.0;
                let clip = Clip {
                    samples,
                    band_hz: if e.bandwidth_hz > 0.0 {
                        e.bandwidth_hz.min(half_rate_hz)
                    } else {
                        half_rate_hz
                    },
                    source: e.source.clone(),
                };
                Ok((e, clip))
            })
            .collect::<crate::Result<_>>()?;
        let mut c = Corpus::default();
        for (e, clip) in loaded {
            if e.kind == "rir" {
                if e.split != "dev" && clip.samples.len() >= 2 {
                    c.rir_train.push(clip);
                }
                continue;
            }
            if clip.samples.len() < SAMPLE_RATE_HZ / 10 {
                continue; // shorter than 100 ms: useless as a segment source
            }
            match (e.kind.as_str(), e.split.as_str()) {
                ("speech", "dev") => c.speech_dev.push(clip),
                ("speech", _) => c.speech_train.push(clip),
                ("noise" | "music", "dev") => c.noise_dev.push(clip),
                ("noise", _) => c.noise_train.push(clip),
                ("music", _) => c.music_train.push(clip),
                (k, _) => train_bail!(
                    "{}: unknown kind {k:?} (speech, noise, music or rir)",
                    e.path
                ),
            }
        }
        if c.speech_train.is_empty() {
            train_bail!("corpus {} has no training speech", dir.display());
        }
        // Without a dev split, hold out every 20th speech file (whole files, never seen in training).
        if c.speech_dev.is_empty() {
            let all = std::mem::take(&mut c.speech_train);
            for (i, clip) in all.into_iter().enumerate() {
                if i % 20 == 19 {
                    c.speech_dev.push(clip);
                } else {
                    c.speech_train.push(clip);
                }
            }
        }
        c.index_speech_sources();
        Ok(c)
    }
}

/// Reads a FLAC, Ogg Vorbis or WAV file as mono `f32` (channels averaged) with its sample rate.
pub fn read_mono(path: &Path) -> crate::Result<(Vec<f32>, u32)> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (inter, channels, rate) = match ext.as_str() {
        "flac" => {
            let mut r = claxon::FlacReader::open(path).ctx(|| "not a FLAC file".into())?;
            let info = r.streaminfo();
            let scale = 1.0 / (1u64 << (info.bits_per_sample - 1)) as f32;
            let s = r
                .samples()
                .map(|x| x.map(|v| v as f32 * scale))
                .collect::<Result<Vec<f32>, _>>()
                .ctx(|| "broken FLAC data".into())?;
            (s, info.channels as usize, info.sample_rate)
        }
        "ogg" => read_vorbis(path)?,
        "wav" => {
            let mut r = hound::WavReader::open(path).ctx(|| "not a WAV file".into())?;
            let spec = r.spec();
            let s = match spec.sample_format {
                hound::SampleFormat::Float => r
                    .samples::<f32>()
                    .collect::<Result<Vec<_>, _>>()
                    .ctx(|| "broken WAV data".into())?,
                hound::SampleFormat::Int => {
                    let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
                    r.samples::<i32>()
                        .map(|x| x.map(|v| v as f32 * scale))
                        .collect::<Result<Vec<_>, _>>()
                        .ctx(|| "broken WAV data".into())?
                }
            };
            (s, spec.channels as usize, spec.sample_rate)
        }
        _ => train_bail!("unsupported audio format {ext:?} (flac, ogg or wav)"),
    };
    if channels == 0 || rate == 0 {
        train_bail!("no channels or zero sample rate");
    }
    let mono = inter
        .chunks_exact(channels)
        .map(|f| f.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok((mono, rate))
}

/// Decodes an Ogg Vorbis file to interleaved `f32` samples, with its channel count and rate. The corpus
/// stores its training split as Vorbis: about a quarter of the bytes of FLAC, which is what lets four
/// times more speech travel to the GPU machine.
fn read_vorbis(path: &Path) -> crate::Result<(Vec<f32>, usize, u32)> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut reader = lewton::inside_ogg::OggStreamReader::new(file)
        .map_err(|e| crate::Error::Train(format!("not an Ogg Vorbis stream: {e}")))?;
    let channels = reader.ident_hdr.audio_channels as usize;
    let rate = reader.ident_hdr.audio_sample_rate;
    let mut samples = Vec::new();
    while let Some(packet) = reader
        .read_dec_packet_itl()
        .map_err(|e| crate::Error::Train(format!("broken Vorbis packet: {e}")))?
    {
        samples.extend(packet.iter().map(|&v| f32::from(v) / 32768.0));
    }
    // The last page's granule position is the true length; the decoder returns the final block whole.
    if let Some(frames) = reader.get_last_absgp() {
        samples.truncate((frames as usize).saturating_mul(channels));
    }
    Ok((samples, channels, rate))
}

/// Resamples a whole clip to 48 kHz (the library's one resampler, delay trimmed).
pub fn resample_to_48k(x: &[f32], rate_hz: u32) -> crate::Result<Vec<f32>> {
    crate::dsp::resample::resample(x, rate_hz, SAMPLE_RATE_HZ as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vorbis_files_decode_to_the_encoded_tone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tone.ogg");
        // sox writes the same kind of file as scripts/corpus/corpus_build.py (mono Vorbis I at 22.05 kHz).
        let made = std::process::Command::new("sox")
            .args(["-R", "-D", "-n", "-r", "22050", "-c", "1"])
            .arg(&path)
            .args(["synth", "1.0", "sine", "440", "vol", "0.5"])
            .status();
        if !matches!(made, Ok(s) if s.success()) {
            eprintln!("skipped: sox with Vorbis support is not installed");
            return;
        }
        let (x, rate) = read_mono(&path).unwrap();
        assert_eq!(rate, 22_050);
        assert_eq!(x.len(), 22_050);
        let mid = &x[5_000..17_000];
        let rms = (mid.iter().map(|v| v * v).sum::<f32>() / mid.len() as f32).sqrt();
        assert!((rms - 0.5 / 2f32.sqrt()).abs() < 0.02, "rms {rms}");
        // Correlation with the ideal tone (phase searched) shows the decoded content is the tone.
        let best = (0..50)
            .map(|p| {
                let ph = p as f32 / 50.0 * std::f32::consts::TAU;
                mid.iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let t = (i + 5_000) as f32 / 22_050.0;
                        v * (std::f32::consts::TAU * 440.0 * t + ph).sin()
                    })
                    .sum::<f32>()
                    / mid.len() as f32
            })
            .fold(f32::MIN, f32::max);
        assert!(best > 0.24, "correlation {best}");
    }

    #[test]
    fn broken_vorbis_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.ogg");
        std::fs::write(&path, b"OggS this is not a vorbis stream").unwrap();
        assert!(read_mono(&path).is_err());
    }
}
