//! WAV reading and writing with hound: strict validation on the way in (truncation, empty files, odd
//! encodings, NaN/Inf), and an all-or-nothing write on the way out (temp file in the target's directory,
//! then rename), so a failed run never leaves a partial output behind.
use std::fs::{self, File};
use std::io::{BufWriter, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::wav_format;
use crate::{Error, Result};

/// Sample encodings dfn4 reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// 16-bit signed integer PCM.
    I16,
    /// 24-bit signed integer PCM.
    I24,
    /// 32-bit signed integer PCM.
    I32,
    /// 32-bit IEEE float.
    F32,
}

impl SampleFormat {
    /// Bits per stored sample.
    pub fn bits(self) -> u16 {
        match self {
            Self::I16 => 16,
            Self::I24 => 24,
            Self::I32 => 32,
            Self::F32 => 32,
        }
    }

    /// Short name as used on the command line (`i16`, `i24`, `i32`, `f32`).
    pub fn name(self) -> &'static str {
        match self {
            Self::I16 => "i16",
            Self::I24 => "i24",
            Self::I32 => "i32",
            Self::F32 => "f32",
        }
    }

    fn hound_spec(self, channels: u16, sample_rate_hz: u32) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: sample_rate_hz,
            bits_per_sample: self.bits(),
            sample_format: match self {
                Self::F32 => hound::SampleFormat::Float,
                _ => hound::SampleFormat::Int,
            },
        }
    }
}

/// A decoded WAV file: samples as `f32` in [-1, 1], one vector per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct WavAudio {
    /// Sample rate in Hz.
    pub sample_rate_hz: u32,
    /// Encoding of the file it was read from.
    pub format: SampleFormat,
    /// De-interleaved samples, `channels[c][frame]`; all channels have the same length.
    pub channels: Vec<Vec<f32>>,
    /// How many NaN/Inf samples of a float file were replaced by 0.
    pub non_finite_replaced: usize,
}

impl WavAudio {
    /// Number of frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / f64::from(self.sample_rate_hz)
    }
}

fn hound_error(e: hound::Error) -> Error {
    match e {
        hound::Error::IoError(e) => Error::Io(e),
        hound::Error::FormatError(msg) => Error::Wav(format!("not a valid WAV file: {msg}")),
        hound::Error::Unsupported => Error::Wav("unsupported WAV encoding".into()),
        other => Error::Wav(other.to_string()),
    }
}

/// Reads and validates a whole WAV file (see [`decode_wav`]).
pub fn read_wav(path: &Path) -> Result<WavAudio> {
    decode_wav(&fs::read(path)?)
}

/// Decodes a WAV file held in memory. Rejects anything dfn4 cannot process faithfully: a non-WAV file,
/// compressed or 8-bit/64-bit encodings, a data chunk that announces more samples than the file holds,
/// and a file without samples. NaN/Inf samples become 0 and are counted in
/// [`WavAudio::non_finite_replaced`].
pub fn decode_wav(bytes: &[u8]) -> Result<WavAudio> {
    wav_format::probe(bytes)?.check_supported()?;
    let mut reader = hound::WavReader::new(Cursor::new(bytes)).map_err(hound_error)?;
    let spec = reader.spec();
    let announced = reader.len() as usize;
    let nb_channels = usize::from(spec.channels);
    let mut interleaved = Vec::with_capacity(announced);
    let mut non_finite_replaced = 0;
    let format = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => {
            for s in reader.samples::<f32>() {
                let s = s.map_err(|e| truncation_or(e, announced, interleaved.len()))?;
                if s.is_finite() {
                    interleaved.push(s);
                } else {
                    non_finite_replaced += 1;
                    interleaved.push(0.0);
                }
            }
            SampleFormat::F32
        }
        (hound::SampleFormat::Int, bits @ (16 | 24 | 32)) => {
            // Full-scale convention: divide by 2^(bits-1), so i16 -32768 maps to exactly -1.0.
            let scale = 1.0 / (1u64 << (bits - 1)) as f64;
            for s in reader.samples::<i32>() {
                let s = s.map_err(|e| truncation_or(e, announced, interleaved.len()))?;
                interleaved.push((f64::from(s) * scale) as f32);
            }
            match bits {
                16 => SampleFormat::I16,
                24 => SampleFormat::I24,
                _ => SampleFormat::I32,
            }
        }
        (_, bits) => {
            return Err(Error::Wav(format!(
                "unsupported sample format: {bits}-bit {:?}",
                spec.sample_format
            )))
        }
    };
    if interleaved.is_empty() {
        return Err(Error::InvalidInput(
            "the WAV file holds no audio samples (zero length)".into(),
        ));
    }
    let frames = interleaved.len() / nb_channels;
    let mut channels = vec![Vec::with_capacity(frames); nb_channels];
    for frame in interleaved.chunks_exact(nb_channels) {
        for (ch, &s) in channels.iter_mut().zip(frame) {
            ch.push(s);
        }
    }
    Ok(WavAudio {
        sample_rate_hz: spec.sample_rate,
        format,
        channels,
        non_finite_replaced,
    })
}

/// The samples are read from memory, so an I/O error while reading them can only mean the data ended
/// before the header said it would (hound reports that as a generic I/O error, not as end of file).
fn truncation_or(e: hound::Error, announced: usize, read: usize) -> Error {
    match e {
        hound::Error::IoError(_) => {
            Error::Wav(format!(
                "truncated WAV file: the header announces {announced} samples but the data ends after {read}"
            ))
        }
        other => hound_error(other),
    }
}

/// A temporary file that is removed on drop unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Distinguishes temp files of concurrent writes in one process (directory mode runs files in parallel).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `channels` (equal lengths, `f32` in [-1, 1]; integers are rounded and clipped) as a WAV file
/// at `path`. The file appears complete or not at all: data goes to a hidden temp file in the same
/// directory, which is synced and renamed over `path` only after everything was written.
pub fn write_wav_atomic(
    path: &Path,
    sample_rate_hz: u32,
    format: SampleFormat,
    channels: &[Vec<f32>],
) -> Result<()> {
    let frames = channels.first().map_or(0, Vec::len);
    if channels.is_empty() || channels.iter().any(|c| c.len() != frames) {
        return Err(Error::InvalidInput(
            "channels must be non-empty and of equal length".into(),
        ));
    }
    let nb_channels = u16::try_from(channels.len())
        .map_err(|_| Error::InvalidInput(format!("too many channels: {}", channels.len())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidInput(format!("{} is not a file path", path.display())))?;
    let tmp = TempFile {
        path: dir.join(format!(
            ".{}.{}-{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        )),
        keep: false,
    };
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(&tmp.path)?;
    let mut buf = BufWriter::new(file);
    {
        let spec = format.hound_spec(nb_channels, sample_rate_hz);
        let mut writer = hound::WavWriter::new(&mut buf, spec).map_err(hound_error)?;
        for i in 0..frames {
            for ch in channels {
                write_sample(&mut writer, format, ch[i])?;
            }
        }
        writer.finalize().map_err(hound_error)?;
    }
    buf.flush()?;
    let file = buf.into_inner().map_err(|e| Error::Io(e.into_error()))?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp.path, path)?;
    let mut tmp = tmp;
    tmp.keep = true;
    Ok(())
}

fn write_sample<W: std::io::Write + std::io::Seek>(
    writer: &mut hound::WavWriter<W>,
    format: SampleFormat,
    x: f32,
) -> Result<()> {
    let int = |bits: u16| {
        let full = (1i64 << (bits - 1)) as f64;
        (f64::from(x) * full).round().clamp(-full, full - 1.0) as i32
    };
    match format {
        SampleFormat::F32 => writer.write_sample(x),
        SampleFormat::I16 => writer.write_sample(int(16) as i16),
        SampleFormat::I24 => writer.write_sample(int(24)),
        SampleFormat::I32 => writer.write_sample(int(32)),
    }
    .map_err(hound_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(frames: usize, phase: f32) -> Vec<f32> {
        (0..frames)
            .map(|i| 0.8 * (i as f32 * 0.05 + phase).sin())
            .collect()
    }

    #[test]
    fn roundtrips_every_format_and_channel_count() {
        let dir = tempfile::tempdir().unwrap();
        for format in [
            SampleFormat::I16,
            SampleFormat::I24,
            SampleFormat::I32,
            SampleFormat::F32,
        ] {
            for nb_channels in [1usize, 2, 3] {
                let chans: Vec<Vec<f32>> = (0..nb_channels).map(|c| tone(1000, c as f32)).collect();
                let path = dir
                    .path()
                    .join(format!("{}-{nb_channels}.wav", format.name()));
                write_wav_atomic(&path, 22_050, format, &chans).unwrap();
                let back = read_wav(&path).unwrap();
                assert_eq!(back.sample_rate_hz, 22_050);
                assert_eq!(back.format, format);
                assert_eq!(back.channels.len(), nb_channels);
                assert_eq!(back.frames(), 1000);
                let tol = 1.0 / (1u64 << (format.bits().min(24) - 1)) as f32;
                for (a, b) in chans.iter().flatten().zip(back.channels.iter().flatten()) {
                    assert!((a - b).abs() <= tol, "{format:?}: {a} vs {b}");
                }
            }
        }
        // Only the outputs remain: no temp files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 12);
    }

    #[test]
    fn integer_scaling_is_exact_at_full_scale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        let chans = vec![vec![-1.0, 1.5, 0.5, -2.0]];
        write_wav_atomic(&path, 8000, SampleFormat::I16, &chans).unwrap();
        let mut r = hound::WavReader::open(&path).unwrap();
        let raw: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
        assert_eq!(raw, vec![-32768, 32767, 16384, -32768]);
    }

    #[test]
    fn replaces_nan_and_inf_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nan.wav");
        write_wav_atomic(
            &path,
            8000,
            SampleFormat::F32,
            &[vec![0.5, f32::NAN, f32::INFINITY, -0.25]],
        )
        .unwrap();
        let a = read_wav(&path).unwrap();
        assert_eq!(a.non_finite_replaced, 2);
        assert_eq!(a.channels[0], vec![0.5, 0.0, 0.0, -0.25]);
    }

    #[test]
    fn rejects_truncated_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        write_wav_atomic(&path, 8000, SampleFormat::I16, &[tone(500, 0.0)]).unwrap();
        let bytes = fs::read(&path).unwrap();
        let err = decode_wav(&bytes[..bytes.len() - 100])
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated WAV file"), "{err}");
        assert!(err.contains("announces 500 samples"), "{err}");

        write_wav_atomic(&path, 8000, SampleFormat::I16, &[vec![]]).unwrap();
        let err = read_wav(&path).unwrap_err().to_string();
        assert!(err.contains("zero length"), "{err}");
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.wav");
        // Unequal channel lengths are refused before anything is created.
        assert!(write_wav_atomic(&path, 8000, SampleFormat::I16, &[vec![0.0], vec![]]).is_err());
        // A target that is an existing directory fails at the rename; the temp file is cleaned up.
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("keep"), b"x").unwrap();
        assert!(write_wav_atomic(&sub, 8000, SampleFormat::I16, &[vec![0.0]]).is_err());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("sub")]);
    }
}
