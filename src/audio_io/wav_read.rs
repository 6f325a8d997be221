//! Reading a WAV file block by block from any byte stream: a file, a pipe (stdin) or memory. hound
//! validates the header; the samples are decoded here, so a stream whose data length is unknown (0 or
//! 0xFFFFFFFF, as ffmpeg and sox write to a pipe) is read to its end, and memory never grows with the
//! length of the file.
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;

use super::wav::SampleFormat;
use super::wav_format;
use crate::{Error, Result};

/// How much of a stream's start may precede the first sample (the header and any metadata chunks).
const PROBE_BYTES: usize = 1 << 20;
/// Bytes read at a time while looking for the data chunk, so a pipe is not waited on for more.
const PROBE_STEP_BYTES: usize = 4096;

/// A WAV file read block by block: the header is validated when it is opened (encoding, rate and channel
/// range, and that the data chunk is not announced longer than a file of known size), samples come out
/// de-interleaved as `f32` in [-1, 1], and memory does not grow with the file's length. NaN/Inf samples
/// of float files become 0 and are counted ([`Self::non_finite_replaced`]).
pub struct WavReader<R: Read> {
    /// The bytes of the head read past the first sample, then the rest of the stream.
    src: io::Chain<Cursor<Vec<u8>>, R>,
    rate_hz: u32,
    format: SampleFormat,
    channels: usize,
    /// Bytes per sample as stored (4 for 24-bit samples in 32-bit containers).
    container_bytes: usize,
    /// Frames the header announces; `None` for a stream read to its end.
    announced_frames: Option<u64>,
    frames_read: u64,
    non_finite_replaced: u64,
    /// Integer full-scale factor `2^-(bits-1)` (unused for float files).
    scale: f64,
    /// Raw bytes of one block, reused.
    bytes: Vec<u8>,
}

impl WavReader<File> {
    /// Opens and validates the WAV file at `path` (a regular file, or a pipe or device read to its end).
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        let len = meta.is_file().then_some(meta.len());
        Self::from_reader(file, len)
    }
}

impl<'a> WavReader<&'a [u8]> {
    /// Validates a WAV file held in memory.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        Self::from_reader(bytes, Some(bytes.len() as u64))
    }
}

impl<R: Read> WavReader<R> {
    /// Reads and validates the header from `reader` (positioned at the start of the file);
    /// `total_len_bytes` is the whole file's length when known (a regular file), `None` for a pipe.
    pub fn from_reader(mut reader: R, total_len_bytes: Option<u64>) -> Result<Self> {
        let head = read_head(&mut reader)?;
        let declared = wav_format::probe(&head)?;
        declared.check_supported()?;
        let Some((data_at, declared_len)) = wav_format::data_chunk(&head) else {
            // hound's message names what is wrong with a header that leads to no data chunk.
            return Err(match hound::WavReader::new(Cursor::new(&head)) {
                Err(e) => hound_error(e),
                Ok(_) => Error::Wav("not a valid WAV file: no data chunk".into()),
            });
        };
        let unknown_length = wav_format::is_unknown_length(declared_len);
        let mut header = head[..data_at].to_vec();
        if unknown_length {
            // hound refuses a length that is not a whole number of frames; the largest one stands in
            // for "to the end" (the data is decoded here, not by hound).
            let align = u32::from(declared.block_align.max(1));
            let stand_in = u32::MAX - u32::MAX % align;
            header[data_at - 4..data_at].copy_from_slice(&stand_in.to_le_bytes());
        }
        let spec = hound::WavReader::new(Cursor::new(&header))
            .map_err(hound_error)?
            .spec();
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
        let container_bytes = usize::from(declared.block_align) / channels;
        let fits = matches!(
            (format, container_bytes),
            (SampleFormat::I16, 2)
                | (SampleFormat::I24, 3 | 4)
                | (SampleFormat::I32 | SampleFormat::F32, 4)
        );
        if !fits || usize::from(declared.block_align) != channels * container_bytes {
            return Err(Error::Wav(format!(
                "not a valid WAV file: {} bytes per frame for {channels} channels of {} bits",
                declared.block_align, spec.bits_per_sample
            )));
        }
        let frame_bytes = (channels * container_bytes) as u64;
        let announced_frames = if unknown_length {
            None
        } else {
            let frames = u64::from(declared_len) / frame_bytes;
            if frames == 0 {
                return Err(super::wav::empty_file());
            }
            // A header that announces more data than the file holds is refused before any work is done.
            if let Some(len) = total_len_bytes {
                let present = len.saturating_sub(data_at as u64) / container_bytes as u64;
                if present < frames * channels as u64 {
                    return Err(truncated(frames * channels as u64, present));
                }
            }
            Some(frames)
        };
        let rest = head[data_at..].to_vec();
        Ok(Self {
            src: Cursor::new(rest).chain(reader),
            rate_hz: spec.sample_rate,
            format,
            channels,
            container_bytes,
            announced_frames,
            frames_read: 0,
            non_finite_replaced: 0,
            scale: 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f64,
            bytes: Vec::new(),
        })
    }

    /// Sample rate in Hz.
    pub fn sample_rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The file's sample encoding.
    pub fn format(&self) -> SampleFormat {
        self.format
    }

    /// Whether the header states the length (false for a stream read to its end).
    pub fn length_known(&self) -> bool {
        self.announced_frames.is_some()
    }

    /// Frames (samples per channel) the file holds: the header's figure, or for a stream of unknown
    /// length the frames read so far (the total once [`Self::read_block`] has returned 0).
    pub fn frames(&self) -> u64 {
        self.announced_frames.unwrap_or(self.frames_read)
    }

    /// The header's length in frames, 0 for a stream of unknown length.
    pub fn exact_or_zero(&self) -> u64 {
        self.announced_frames.unwrap_or(0)
    }

    /// Frames handed out so far.
    pub fn frames_read(&self) -> u64 {
        self.frames_read
    }

    /// Duration in seconds (see [`Self::frames`]).
    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / f64::from(self.rate_hz)
    }

    /// NaN/Inf samples replaced by 0 so far.
    pub fn non_finite_replaced(&self) -> u64 {
        self.non_finite_replaced
    }

    /// Reads up to `max_frames` frames into `out` (one vector per channel, cleared first); returns the
    /// number of frames read, 0 at the end of the data. A stream of unknown length ends at its last
    /// whole frame.
    pub fn read_block(&mut self, max_frames: usize, out: &mut [Vec<f32>]) -> Result<usize> {
        super::block::clear_for_read(out, self.channels)?;
        let left = self
            .announced_frames
            .map_or(u64::MAX, |n| n - self.frames_read);
        let want = (max_frames as u64).min(left) as usize;
        let frame_bytes = self.channels * self.container_bytes;
        self.bytes.resize(want * frame_bytes, 0);
        let got = fill(&mut self.src, &mut self.bytes)?;
        let n = got / frame_bytes;
        if let (Some(announced), true) = (self.announced_frames, n < want) {
            let samples = announced * self.channels as u64;
            let present =
                (self.frames_read * frame_bytes as u64 + got as u64) / self.container_bytes as u64;
            return Err(truncated(samples, present));
        }
        self.decode(n, out);
        self.frames_read += n as u64;
        Ok(n)
    }

    /// Decodes the first `n` frames of `self.bytes` into `out`.
    fn decode(&mut self, n: usize, out: &mut [Vec<f32>]) {
        let nb_channels = self.channels;
        let samples = self.bytes[..n * nb_channels * self.container_bytes]
            .chunks_exact(self.container_bytes)
            .enumerate();
        match (self.format, self.container_bytes) {
            (SampleFormat::F32, _) => {
                for (i, b) in samples {
                    let s = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    let v = if s.is_finite() {
                        s
                    } else {
                        self.non_finite_replaced += 1;
                        0.0
                    };
                    out[i % nb_channels].push(v);
                }
            }
            (format, container) => {
                let scale = self.scale;
                for (i, b) in samples {
                    let s = match (format, container) {
                        (SampleFormat::I16, _) => i32::from(i16::from_le_bytes([b[0], b[1]])),
                        // 24 bits, sign-extended from the third byte (a fourth container byte is padding).
                        (SampleFormat::I24, _) => i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8,
                        _ => i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                    };
                    // Full-scale convention: divide by 2^(bits-1), so i16 -32768 maps to exactly -1.0.
                    out[i % nb_channels].push((f64::from(s) * scale) as f32);
                }
            }
        }
    }
}

/// Reads the start of a stream until the data chunk's header is in it (or [`PROBE_BYTES`] or the end).
fn read_head<R: Read>(reader: &mut R) -> Result<Vec<u8>> {
    let mut head = Vec::new();
    while head.len() < PROBE_BYTES && wav_format::data_chunk(&head).is_none() {
        let before = head.len();
        (&mut *reader)
            .take(PROBE_STEP_BYTES as u64)
            .read_to_end(&mut head)?;
        if head.len() == before {
            break;
        }
    }
    Ok(head)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn fill<R: Read>(src: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(got)
}

pub(super) fn hound_error(e: hound::Error) -> Error {
    match e {
        hound::Error::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Error::Wav("not a valid WAV file: the header is cut short".into())
        }
        hound::Error::IoError(e) => Error::Io(e),
        hound::Error::FormatError(msg) => Error::Wav(format!("not a valid WAV file: {msg}")),
        hound::Error::Unsupported => Error::Wav("unsupported WAV encoding".into()),
        other => Error::Wav(other.to_string()),
    }
}

fn truncated(announced: u64, present: u64) -> Error {
    Error::Wav(format!(
        "truncated WAV file: the header announces {announced} samples but the data ends after {present}"
    ))
}
