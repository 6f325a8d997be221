//! Writing a WAV file block by block without ever destroying what a path held:
//! - a regular file (new, or replaced when the caller allows it) appears complete or not at all: samples
//!   go to a hidden temp file beside it, which `finish` syncs and moves into place (without replacing an
//!   existing file unless asked); a symlink keeps pointing where it did and its target is what changes;
//! - anything else (stdout, a pipe, a FIFO, a device such as `/dev/null`) is written in place, never
//!   renamed over; when it cannot seek, the header states the length the caller expects (an enhanced
//!   file is as long as its input), or "unknown" (0xFFFFFFFF, as ffmpeg writes to a pipe).
//!
//! The header is the plain form every reader accepts: `WAVE_FORMAT_PCM` for 16-bit mono and stereo,
//! `WAVE_FORMAT_IEEE_FLOAT` with a `fact` chunk for float mono and stereo, `WAVE_FORMAT_EXTENSIBLE` for
//! 24/32-bit integers and more than two channels (the forms sox writes). Samples beyond full scale are
//! counted: clipped for integers, kept for float.
use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::wav::SampleFormat;
use crate::{Error, Result};

const TAG_PCM: u16 = 0x0001;
const TAG_IEEE_FLOAT: u16 = 0x0003;
const TAG_EXTENSIBLE: u16 = 0xfffe;
/// The tail shared by the sub-format GUIDs `KSDATAFORMAT_SUBTYPE_PCM` and `..._IEEE_FLOAT`.
const GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
];
/// The length a header states when the stream's end is not known in advance.
const UNKNOWN_LENGTH: u32 = u32::MAX;

/// Temp files being written in this process, so an interrupted run can remove them
/// ([`remove_temp_files`]).
static LIVE_TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// Distinguishes temp files of concurrent writes in one process (directory mode runs files in parallel).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn live_temp_files() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE_TEMP_FILES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes every temp file this process is writing and keeps any new one from being moved into place:
/// for a front end's SIGINT/SIGTERM handler, just before it exits. Returns how many it removed.
pub fn remove_temp_files() -> usize {
    remove_temp_files_where(|_| true)
}

/// [`remove_temp_files`] for the temp files whose path `matches` (tests use it on their own folder:
/// the registry is the whole process's).
pub(crate) fn remove_temp_files_where(matches: impl Fn(&Path) -> bool) -> usize {
    let mut live = live_temp_files();
    let mut removed = 0;
    live.retain(|p| {
        if !matches(p) {
            return true;
        }
        removed += usize::from(fs::remove_file(p).is_ok());
        false
    });
    removed
}

/// A temporary file that is removed on drop unless it was moved into place.
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn create_beside(target: &Path) -> Result<(Self, File)> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = target.file_name().ok_or_else(|| {
            Error::InvalidInput(format!("{} is not a file path", target.display()))
        })?;
        let path = dir.join(format!(
            ".{}.{}-{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut live = live_temp_files();
        let file = File::options().write(true).create_new(true).open(&path)?;
        live.push(path.clone());
        Ok((Self { path }, file))
    }

    /// Moves the temp file to `target`; without `overwrite`, an existing `target` is an error. Holding
    /// the registry's lock, so an interrupt either removes the temp file or finds it in place.
    fn move_to(self, target: &Path, overwrite: bool) -> Result<()> {
        let mut live = live_temp_files();
        let Some(i) = live.iter().position(|p| *p == self.path) else {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::Interrupted,
                "interrupted before the output was complete",
            )));
        };
        if overwrite {
            fs::rename(&self.path, target)?;
        } else {
            // A hard link fails if the target exists, atomically; file systems without links fall
            // back to a check then a rename.
            match fs::hard_link(&self.path, target) {
                Ok(()) => fs::remove_file(&self.path)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(exists_error(target))
                }
                Err(_) if target.symlink_metadata().is_ok() => return Err(exists_error(target)),
                Err(_) => fs::rename(&self.path, target)?,
            }
        }
        live.swap_remove(i);
        drop(live);
        std::mem::forget(self);
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let mut live = live_temp_files();
        if let Some(i) = live.iter().position(|p| *p == self.path) {
            live.swap_remove(i);
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn exists_error(path: &Path) -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{} exists; refusing to overwrite it", path.display()),
    ))
}

/// Where the bytes go.
enum Sink {
    /// A temp file moved over `target` by `finish`.
    Replace {
        tmp: TempFile,
        target: PathBuf,
        overwrite: bool,
    },
    /// Written in place (stdout, a pipe, a device).
    InPlace,
}

/// What to do with a path that already exists (see [`WavWriter::create`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// An existing regular file is an error (checked again when the output is moved into place).
    #[default]
    Refuse,
    /// An existing regular file is replaced once the new one is complete.
    Overwrite,
}

/// An output file being written, by whichever route keeps what the path held (see the module): a temp
/// file moved into place by [`OutputFile::commit`], or the path itself (stdout, a pipe, a device).
pub(crate) struct OutputFile {
    pub(crate) out: BufWriter<File>,
    sink: Sink,
    /// Where the output starts in the file when it can seek back there (to patch a header).
    pub(crate) seekable_start: Option<u64>,
}

impl OutputFile {
    /// Opens `path` for an output (see [`WavWriter::create`] for the rules).
    pub(crate) fn create(path: &Path, existing: Existing) -> Result<Self> {
        let (file, sink) = match fs::metadata(path) {
            Ok(meta) if !meta.is_file() && !meta.is_dir() => {
                (File::options().write(true).open(path)?, Sink::InPlace)
            }
            Ok(meta) if meta.is_file() && existing == Existing::Refuse => {
                return Err(exists_error(path))
            }
            _ => {
                // A symlink stays; its target is replaced.
                let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
                let (tmp, file) = TempFile::create_beside(&target)?;
                let sink = Sink::Replace {
                    tmp,
                    target,
                    overwrite: existing == Existing::Overwrite,
                };
                (file, sink)
            }
        };
        Ok(Self::start(file, sink))
    }

    /// An open stream (stdout, a pipe), written in place.
    pub(crate) fn from_stream(file: File) -> Self {
        Self::start(file, Sink::InPlace)
    }

    fn start(mut file: File, sink: Sink) -> Self {
        // A regular file behind stdout (`> out.wav`) can be patched at the end; a pipe cannot.
        let seekable_start = match &sink {
            Sink::Replace { .. } => Some(0),
            Sink::InPlace => file
                .stream_position()
                .ok()
                .filter(|_| file.metadata().is_ok_and(|m| m.is_file())),
        };
        Self {
            out: BufWriter::with_capacity(1 << 16, file),
            sink,
            seekable_start,
        }
    }

    /// Flushes, syncs and moves a temp file into place (refusing a file that appeared meanwhile unless
    /// overwriting was allowed).
    pub(crate) fn commit(self) -> Result<()> {
        let file = self
            .out
            .into_inner()
            .map_err(|e| Error::Io(e.into_error()))?;
        match self.sink {
            Sink::Replace {
                tmp,
                target,
                overwrite,
            } => {
                file.sync_all()?;
                tmp.move_to(&target, overwrite)
            }
            Sink::InPlace => Ok(()),
        }
    }
}

/// A WAV file written block by block (see the module's documentation for where the bytes go).
pub struct WavWriter {
    file: OutputFile,
    /// Whether the header's lengths can be patched at the end.
    seekable: bool,
    /// Byte offsets of the RIFF length, the `fact` frame count (float) and the data length.
    riff_len_at: u64,
    fact_at: Option<u64>,
    data_len_at: u64,
    format: SampleFormat,
    channels: usize,
    frames_written: u64,
    /// The frames a header that cannot be patched announced (`None`: unknown length).
    announced_frames: Option<u64>,
    beyond_full_scale: u64,
    /// One block's bytes, reused.
    bytes: Vec<u8>,
}

impl WavWriter {
    /// Starts writing `channels` channels at `sample_rate_hz` in `format` to `path`. A regular file (or
    /// a path that does not exist yet) is written through a temp file beside it (beside a symlink's
    /// target, for a symlink); an existing one is refused unless `existing` says
    /// [`Existing::Overwrite`]. Any other existing path (a FIFO, a device, `/dev/stdout`) is written in
    /// place, its header announcing `expected_frames` when it cannot be patched at the end.
    pub fn create(
        path: &Path,
        sample_rate_hz: u32,
        format: SampleFormat,
        channels: usize,
        existing: Existing,
        expected_frames: Option<u64>,
    ) -> Result<Self> {
        let header = Header::new(sample_rate_hz, format, channels, expected_frames)?;
        Self::start(OutputFile::create(path, existing)?, header)
    }

    /// Starts writing to an open stream (stdout, a pipe), in place; a header that cannot be patched at
    /// the end announces `expected_frames` (`None`: unknown, read to the end).
    pub fn to_stream(
        file: File,
        sample_rate_hz: u32,
        format: SampleFormat,
        channels: usize,
        expected_frames: Option<u64>,
    ) -> Result<Self> {
        let header = Header::new(sample_rate_hz, format, channels, expected_frames)?;
        Self::start(OutputFile::from_stream(file), header)
    }

    fn start(mut file: OutputFile, header: Header) -> Result<Self> {
        let start = file.seekable_start;
        let layout = header.write(&mut file.out, start.unwrap_or(0))?;
        Ok(Self {
            file,
            seekable: start.is_some(),
            riff_len_at: layout.riff_len_at,
            fact_at: layout.fact_at,
            data_len_at: layout.data_len_at,
            format: header.format,
            channels: header.channels,
            frames_written: 0,
            announced_frames: header.frames,
            beyond_full_scale: 0,
            bytes: Vec::new(),
        })
    }

    /// Appends one block: one slice per channel, all of the same length (`f32`, full scale ±1; integer
    /// formats are rounded and clipped).
    pub fn write_block<S: AsRef<[f32]>>(&mut self, block: &[S]) -> Result<()> {
        let frames = super::block::frames_to_write(block, self.channels)?;
        self.bytes.clear();
        for i in 0..frames {
            for ch in block {
                let x = ch.as_ref()[i];
                if x.abs() > 1.0 {
                    self.beyond_full_scale += 1;
                }
                encode(self.format, x, &mut self.bytes);
            }
        }
        self.file.out.write_all(&self.bytes)?;
        self.frames_written += frames as u64;
        Ok(())
    }

    /// The sample format written.
    pub fn format(&self) -> SampleFormat {
        self.format
    }

    /// Samples written beyond full scale (|x| > 1): clipped in an integer file, kept in a float one.
    pub fn beyond_full_scale(&self) -> u64 {
        self.beyond_full_scale
    }

    /// Completes the header where the sink allows it, syncs the data and moves a temp file into place.
    pub fn finish(mut self) -> Result<()> {
        let data_bytes = self.frames_written * (self.channels * self.format.bytes()) as u64;
        if data_bytes % 2 == 1 {
            // RIFF chunks are padded to an even length.
            self.file.out.write_all(&[0])?;
        }
        if self.seekable {
            let len32 = |n: u64| u32::try_from(n).unwrap_or(UNKNOWN_LENGTH);
            let data_len = len32(data_bytes);
            let riff_len = len32(self.data_len_at + 4 + data_bytes + data_bytes % 2 - 8);
            let frames = len32(self.frames_written);
            let out = &mut self.file.out;
            let mut patch = |at: u64, v: u32| -> io::Result<()> {
                out.seek(SeekFrom::Start(at))?;
                out.write_all(&v.to_le_bytes())
            };
            patch(self.riff_len_at, riff_len)?;
            if let Some(at) = self.fact_at {
                patch(at, frames)?;
            }
            patch(self.data_len_at, data_len)?;
        } else if let Some(announced) = self.announced_frames {
            if announced != self.frames_written {
                return Err(Error::InvalidInput(format!(
                    "the WAV header announced {announced} frames but {} were written",
                    self.frames_written
                )));
            }
        }
        self.file.commit()
    }
}

/// Appends `x` in `format` (little endian).
fn encode(format: SampleFormat, x: f32, out: &mut Vec<u8>) {
    let int = |bits: u32| {
        let full = (1i64 << (bits - 1)) as f64;
        (f64::from(x) * full).round().clamp(-full, full - 1.0) as i32
    };
    match format {
        SampleFormat::F32 => out.extend_from_slice(&x.to_le_bytes()),
        SampleFormat::I16 => out.extend_from_slice(&(int(16) as i16).to_le_bytes()),
        SampleFormat::I24 => out.extend_from_slice(&int(24).to_le_bytes()[..3]),
        SampleFormat::I32 => out.extend_from_slice(&int(32).to_le_bytes()),
    }
}

/// The fixed part of a WAV file before its samples.
struct Header {
    rate_hz: u32,
    format: SampleFormat,
    channels: usize,
    /// The length to announce (`None`, or too long for 32 bits: unknown).
    frames: Option<u64>,
}

/// Where the lengths to patch sit.
struct Layout {
    riff_len_at: u64,
    fact_at: Option<u64>,
    data_len_at: u64,
}

impl Header {
    fn new(
        rate_hz: u32,
        format: SampleFormat,
        channels: usize,
        frames: Option<u64>,
    ) -> Result<Self> {
        if channels == 0 || channels > usize::from(u16::MAX) {
            return Err(Error::InvalidInput(format!(
                "cannot write {channels} channels"
            )));
        }
        if rate_hz == 0 {
            return Err(Error::InvalidInput(
                "cannot write a sample rate of 0 Hz".into(),
            ));
        }
        // A length a 32-bit header cannot hold is announced as unknown.
        let data_bytes = |n: u64| n.checked_mul((channels * format.bytes()) as u64);
        let frames =
            frames.filter(|&n| data_bytes(n).is_some_and(|b| b + 80 < u64::from(u32::MAX)));
        Ok(Self {
            rate_hz,
            format,
            channels,
            frames,
        })
    }

    /// Writes the header at stream offset `start`, with the announced lengths or "unknown" (patched by
    /// `finish` when it can).
    fn write<W: Write>(&self, out: &mut W, start: u64) -> Result<Layout> {
        let data_bytes = self
            .frames
            .map(|n| n * (self.channels * self.format.bytes()) as u64);
        let len32 = |n: Option<u64>| n.map_or(UNKNOWN_LENGTH, |n| n as u32);
        let channels = self.channels as u16;
        let bytes = self.format.bytes() as u16;
        let float = self.format == SampleFormat::F32;
        let extensible =
            channels > 2 || matches!(self.format, SampleFormat::I24 | SampleFormat::I32);
        let tag = if float { TAG_IEEE_FLOAT } else { TAG_PCM };
        let mut fmt = Vec::with_capacity(40);
        fmt.extend_from_slice(&(if extensible { TAG_EXTENSIBLE } else { tag }).to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&self.rate_hz.to_le_bytes());
        let block_align = channels * bytes;
        let byte_rate = u64::from(self.rate_hz) * u64::from(block_align);
        fmt.extend_from_slice(&u32::try_from(byte_rate).unwrap_or(u32::MAX).to_le_bytes());
        fmt.extend_from_slice(&block_align.to_le_bytes());
        fmt.extend_from_slice(&(bytes * 8).to_le_bytes());
        if extensible {
            fmt.extend_from_slice(&22u16.to_le_bytes());
            fmt.extend_from_slice(&(bytes * 8).to_le_bytes());
            fmt.extend_from_slice(&channel_mask(channels).to_le_bytes());
            fmt.extend_from_slice(&tag.to_le_bytes());
            fmt.extend_from_slice(&GUID_TAIL);
        } else if float {
            // cbSize: a non-PCM WAVEFORMATEX has one, even when empty.
            fmt.extend_from_slice(&0u16.to_le_bytes());
        }
        let mut h = Vec::with_capacity(80);
        h.extend_from_slice(b"RIFF");
        let riff_len_at = start + h.len() as u64;
        h.extend_from_slice(&UNKNOWN_LENGTH.to_le_bytes()); // set below, once the header is complete
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        h.extend_from_slice(&fmt);
        let fact_at = float.then(|| {
            h.extend_from_slice(b"fact");
            h.extend_from_slice(&4u32.to_le_bytes());
            let at = start + h.len() as u64;
            h.extend_from_slice(&len32(self.frames).to_le_bytes());
            at
        });
        h.extend_from_slice(b"data");
        let data_len_at = start + h.len() as u64;
        h.extend_from_slice(&len32(data_bytes).to_le_bytes());
        // RIFF length: everything after its own field, the data's pad byte included.
        let riff_len = data_bytes.map(|d| (h.len() - 8) as u64 + d + d % 2);
        h[4..8].copy_from_slice(&len32(riff_len).to_le_bytes());
        out.write_all(&h)?;
        Ok(Layout {
            riff_len_at,
            fact_at,
            data_len_at,
        })
    }
}

/// The speaker mask of the usual layout of 1 to 8 channels (front centre for mono, front left and
/// right for stereo, ...); none beyond.
fn channel_mask(channels: u16) -> u32 {
    match channels {
        1 => 0x4,
        2 => 0x3,
        3 => 0x7,
        4 => 0x33,
        5 => 0x37,
        6 => 0x3f,
        7 => 0x13f,
        8 => 0x63f,
        _ => 0,
    }
}
