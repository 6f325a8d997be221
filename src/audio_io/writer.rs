//! The output file of an enhancement, by its name: FLAC for a `.flac` path (feature `formats`), WAV
//! otherwise. Both take the same blocks and write through the same route (a temp file moved into place,
//! or in place for stdout and devices).
use std::fs::File;
use std::path::Path;

#[cfg(feature = "formats")]
use super::flac_write::FlacWriter;
use super::wav::{Existing, SampleFormat, WavWriter};
#[cfg(feature = "formats")]
use super::wav_write::OutputFile;
use crate::Result;

/// Whether `path` names a FLAC file (`.flac`, any case).
pub fn is_flac_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("flac"))
}

/// An output being written, WAV or FLAC.
pub enum AudioWriter {
    /// A WAV file or stream.
    Wav(WavWriter),
    /// A FLAC file (boxed: the encoder's state is large).
    #[cfg(feature = "formats")]
    Flac(Box<FlacWriter>),
}

impl AudioWriter {
    /// Creates the output at `path` (see [`WavWriter::create`] for what happens to an existing path):
    /// FLAC for a `.flac` name, in 16 or 24 bits (float and 32-bit formats become 24-bit), else WAV.
    pub fn create(
        path: &Path,
        rate_hz: u32,
        format: SampleFormat,
        channels: usize,
        existing: Existing,
        expected_frames: Option<u64>,
    ) -> Result<Self> {
        #[cfg(feature = "formats")]
        if is_flac_path(path) {
            let format = match format {
                SampleFormat::F32 | SampleFormat::I32 => SampleFormat::I24,
                f => f,
            };
            let file = OutputFile::create(path, existing)?;
            let writer = FlacWriter::start(file, rate_hz, format, channels)?;
            return Ok(Self::Flac(Box::new(writer)));
        }
        Ok(Self::Wav(WavWriter::create(
            path,
            rate_hz,
            format,
            channels,
            existing,
            expected_frames,
        )?))
    }

    /// A WAV stream on an open file (stdout).
    pub fn wav_stream(
        file: File,
        rate_hz: u32,
        format: SampleFormat,
        channels: usize,
        expected_frames: Option<u64>,
    ) -> Result<Self> {
        Ok(Self::Wav(WavWriter::to_stream(
            file,
            rate_hz,
            format,
            channels,
            expected_frames,
        )?))
    }

    /// The sample format written.
    pub fn format(&self) -> SampleFormat {
        match self {
            Self::Wav(w) => w.format(),
            #[cfg(feature = "formats")]
            Self::Flac(w) => w.format(),
        }
    }

    /// Appends one block (one slice per channel, equal lengths).
    pub fn write_block<S: AsRef<[f32]>>(&mut self, block: &[S]) -> Result<()> {
        match self {
            Self::Wav(w) => w.write_block(block),
            #[cfg(feature = "formats")]
            Self::Flac(w) => w.write_block(block),
        }
    }

    /// Samples written beyond full scale (|x| > 1).
    pub fn beyond_full_scale(&self) -> u64 {
        match self {
            Self::Wav(w) => w.beyond_full_scale(),
            #[cfg(feature = "formats")]
            Self::Flac(w) => w.beyond_full_scale(),
        }
    }

    /// Completes the file (header, sync, moved into place).
    pub fn finish(self) -> Result<()> {
        match self {
            Self::Wav(w) => w.finish(),
            #[cfg(feature = "formats")]
            Self::Flac(w) => (*w).finish(),
        }
    }
}
