//! WAV reading and writing with hound: strict validation on the way in (truncation, empty files, odd
//! encodings, NaN/Inf), and an all-or-nothing write on the way out (temp file in the target's directory,
//! then rename), so a failed run never leaves a partial output behind.
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Cursor, Read, Seek, SeekFrom};
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

/// Frames per block when a whole file is decoded at once.
const DECODE_BLOCK_FRAMES: usize = 1 << 16;
/// How much of a file's start is searched for the `fmt ` chunk before hound parses the header.
const PROBE_BYTES: u64 = 1 << 20;

/// A WAV file read block by block: the header is validated when it is opened (encoding, and that the
/// data chunk is not announced longer than the file), samples come out de-interleaved as `f32` in
/// [-1, 1], and memory does not grow with the file's length. NaN/Inf samples of float files become 0
/// and are counted ([`Self::non_finite_replaced`]).
pub struct WavReader<R: Read + Seek> {
    inner: hound::WavReader<R>,
    format: SampleFormat,
    channels: usize,
    frames: u64,
    frames_read: u64,
    non_finite_replaced: u64,
    /// Integer full-scale factor `2^-(bits-1)` (unused for float files).
    scale: f64,
}

impl WavReader<BufReader<File>> {
    /// Opens and validates the WAV file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut head = Vec::new();
        (&mut file).take(PROBE_BYTES).read_to_end(&mut head)?;
        file.seek(SeekFrom::Start(0))?;
        Self::from_parts(BufReader::new(file), &head, len)
    }
}

impl<'a> WavReader<Cursor<&'a [u8]>> {
    /// Validates a WAV file held in memory.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        Self::from_parts(Cursor::new(bytes), bytes, bytes.len() as u64)
    }
}

impl<R: Read + Seek> WavReader<R> {
    /// `head` is the start of the file (for the format probe), `file_len` its length in bytes.
    fn from_parts(reader: R, head: &[u8], file_len: u64) -> Result<Self> {
        let declared = wav_format::probe(head)?;
        declared.check_supported()?;
        let inner = hound::WavReader::new(reader).map_err(hound_error)?;
        let spec = inner.spec();
        let format = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Float, 32) => SampleFormat::F32,
            (hound::SampleFormat::Int, 16) => SampleFormat::I16,
            (hound::SampleFormat::Int, 24) => SampleFormat::I24,
            (hound::SampleFormat::Int, 32) => SampleFormat::I32,
            (_, bits) => {
                return Err(Error::Wav(format!(
                    "unsupported sample format: {bits}-bit {:?}",
                    spec.sample_format
                )))
            }
        };
        if spec.sample_rate == 0 {
            return Err(Error::Wav("not a valid WAV file: sample rate 0".into()));
        }
        let channels = usize::from(spec.channels);
        // Before anything is sized by the header's rate or channel count.
        crate::config::check_format(spec.sample_rate, channels)?;
        let announced = u64::from(inner.len());
        if announced == 0 {
            return Err(Error::InvalidInput(
                "the WAV file holds no audio samples (zero length)".into(),
            ));
        }
        // A header that announces more data than the file holds is refused before any work is done;
        // the bytes before the data chunk are at least the 44 of a minimal header.
        let bytes_per_sample = u64::from(spec.bits_per_sample / 8);
        if let Some(data_at) = wav_format::data_offset(head) {
            let present = file_len.saturating_sub(data_at) / bytes_per_sample;
            if present < announced {
                return Err(truncated(announced, present));
            }
        } else if announced.saturating_mul(bytes_per_sample) > file_len {
            return Err(truncated(announced, file_len / bytes_per_sample));
        }
        let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f64;
        Ok(Self {
            inner,
            format,
            channels,
            frames: announced / channels as u64,
            frames_read: 0,
            non_finite_replaced: 0,
            scale,
        })
    }

    /// Sample rate in Hz.
    pub fn sample_rate_hz(&self) -> u32 {
        self.inner.spec().sample_rate
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The file's sample encoding.
    pub fn format(&self) -> SampleFormat {
        self.format
    }

    /// Frames (samples per channel) the file holds.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / f64::from(self.sample_rate_hz())
    }

    /// NaN/Inf samples replaced by 0 so far.
    pub fn non_finite_replaced(&self) -> u64 {
        self.non_finite_replaced
    }

    /// Reads up to `max_frames` frames into `out` (one vector per channel, cleared first); returns the
    /// number of frames read, 0 at the end of the data.
    pub fn read_block(&mut self, max_frames: usize, out: &mut [Vec<f32>]) -> Result<usize> {
        if out.len() != self.channels {
            return Err(Error::InvalidInput(format!(
                "{} output channels for a file of {}",
                out.len(),
                self.channels
            )));
        }
        out.iter_mut().for_each(Vec::clear);
        let n = (max_frames as u64).min(self.frames - self.frames_read) as usize;
        let announced = self.frames * self.channels as u64;
        let read_before = self.frames_read * self.channels as u64;
        let nb_channels = self.channels;
        let mut i = 0usize;
        match self.format {
            SampleFormat::F32 => {
                for s in self.inner.samples::<f32>().take(n * nb_channels) {
                    let s = s.map_err(|e| truncation_or(e, announced, read_before + i as u64))?;
                    let v = if s.is_finite() {
                        s
                    } else {
                        self.non_finite_replaced += 1;
                        0.0
                    };
                    out[i % nb_channels].push(v);
                    i += 1;
                }
            }
            _ => {
                let scale = self.scale;
                for s in self.inner.samples::<i32>().take(n * nb_channels) {
                    let s = s.map_err(|e| truncation_or(e, announced, read_before + i as u64))?;
                    // Full-scale convention: divide by 2^(bits-1), so i16 -32768 maps to exactly -1.0.
                    out[i % nb_channels].push((f64::from(s) * scale) as f32);
                    i += 1;
                }
            }
        }
        if i != n * nb_channels {
            return Err(truncated(announced, read_before + i as u64));
        }
        self.frames_read += n as u64;
        Ok(n)
    }
}

fn truncated(announced: u64, present: u64) -> Error {
    Error::Wav(format!(
        "truncated WAV file: the header announces {announced} samples but the data ends after {present}"
    ))
}

/// Reads and validates a whole WAV file (see [`decode_wav`]).
pub fn read_wav(path: &Path) -> Result<WavAudio> {
    read_all(WavReader::open(path)?)
}

/// Decodes a WAV file held in memory. Rejects anything dfn4 cannot process faithfully: a non-WAV file,
/// compressed or 8-bit/64-bit encodings, a data chunk that announces more samples than the file holds,
/// and a file without samples. NaN/Inf samples become 0 and are counted in
/// [`WavAudio::non_finite_replaced`].
pub fn decode_wav(bytes: &[u8]) -> Result<WavAudio> {
    read_all(WavReader::from_bytes(bytes)?)
}

fn read_all<R: Read + Seek>(mut reader: WavReader<R>) -> Result<WavAudio> {
    let frames = usize::try_from(reader.frames())
        .map_err(|_| Error::InvalidInput("the WAV file is too long for this machine".into()))?;
    let mut channels: Vec<Vec<f32>> = (0..reader.channels())
        .map(|_| Vec::with_capacity(frames))
        .collect();
    let mut block = vec![Vec::new(); reader.channels()];
    while reader.read_block(DECODE_BLOCK_FRAMES, &mut block)? > 0 {
        for (all, part) in channels.iter_mut().zip(&block) {
            all.extend_from_slice(part);
        }
    }
    Ok(WavAudio {
        sample_rate_hz: reader.sample_rate_hz(),
        format: reader.format(),
        channels,
        non_finite_replaced: reader.non_finite_replaced() as usize,
    })
}

/// hound reports data that ends before the header said it would as a generic I/O error.
fn truncation_or(e: hound::Error, announced: u64, read: u64) -> Error {
    match e {
        hound::Error::IoError(_) => truncated(announced, read),
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

/// A WAV file written block by block that appears complete or not at all: samples go to a hidden temp
/// file in the target's directory, which [`Self::finish`] syncs and renames over the target. Dropped
/// without `finish` (an error on the way), it removes the temp file and leaves the target untouched.
pub struct WavWriter {
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    /// A second handle on the temp file, to sync it once hound has flushed and let go of its own.
    file: File,
    tmp: TempFile,
    path: PathBuf,
    format: SampleFormat,
    channels: usize,
}

impl WavWriter {
    /// Starts writing `channels` channels at `sample_rate_hz` in `format` to a temp file beside `path`.
    pub fn create(
        path: &Path,
        sample_rate_hz: u32,
        format: SampleFormat,
        channels: usize,
    ) -> Result<Self> {
        let nb_channels = u16::try_from(channels)
            .ok()
            .filter(|&c| c > 0)
            .ok_or_else(|| Error::InvalidInput(format!("cannot write {channels} channels")))?;
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
        let spec = format.hound_spec(nb_channels, sample_rate_hz);
        let handle = file.try_clone()?;
        let writer = hound::WavWriter::new(BufWriter::new(file), spec).map_err(hound_error)?;
        Ok(Self {
            writer: Some(writer),
            file: handle,
            tmp,
            path: path.to_path_buf(),
            format,
            channels,
        })
    }

    /// Appends one block: one slice per channel, all of the same length (`f32` in [-1, 1]; integer
    /// formats are rounded and clipped).
    pub fn write_block<S: AsRef<[f32]>>(&mut self, block: &[S]) -> Result<()> {
        let frames = block.first().map_or(0, |c| c.as_ref().len());
        if block.len() != self.channels || block.iter().any(|c| c.as_ref().len() != frames) {
            return Err(Error::InvalidInput(format!(
                "a block needs {} channels of equal length",
                self.channels
            )));
        }
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::InvalidInput("the WAV writer is finished".into()))?;
        for i in 0..frames {
            for ch in block {
                write_sample(writer, self.format, ch.as_ref()[i])?;
            }
        }
        Ok(())
    }

    /// Completes the header, syncs the data and renames the temp file over the target.
    pub fn finish(mut self) -> Result<()> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| Error::InvalidInput("the WAV writer is finished".into()))?;
        // finalize writes the header and flushes hound's buffer into the file.
        writer.finalize().map_err(hound_error)?;
        self.file.sync_all()?;
        fs::rename(&self.tmp.path, &self.path)?;
        self.tmp.keep = true;
        Ok(())
    }
}

/// Writes `channels` (equal lengths, `f32` in [-1, 1]; integers are rounded and clipped) as a WAV file
/// at `path`, all or nothing (see [`WavWriter`]).
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
    let mut writer = WavWriter::create(path, sample_rate_hz, format, channels.len())?;
    writer.write_block(channels)?;
    writer.finish()
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
    fn refuses_a_header_that_announces_more_than_the_file_holds() {
        // A 100-byte file whose data chunk claims 0x7ffffffe bytes (an odd length is refused earlier, by hound). `WavReader` compares the claim with
        // the file's length before `read_all` sizes anything from it, so no 2 GiB buffer is reserved.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("liar.wav");
        write_wav_atomic(&path, 8000, SampleFormat::I16, &[vec![0.25; 28]]).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 100);
        assert_eq!(&bytes[36..40], b"data");
        bytes[40..44].copy_from_slice(&0x7fff_fffeu32.to_le_bytes());
        let expected =
            "wav error: truncated WAV file: the header announces 1073741823 samples but the \
                        data ends after 28";
        assert_eq!(decode_wav(&bytes).unwrap_err().to_string(), expected);
        assert_eq!(
            WavReader::from_bytes(&bytes).err().unwrap().to_string(),
            expected
        );
        fs::write(&path, &bytes).unwrap();
        assert_eq!(read_wav(&path).unwrap_err().to_string(), expected);
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
