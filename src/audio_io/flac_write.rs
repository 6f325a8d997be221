//! FLAC output written block by block with flacenc (pure Rust), on the same route as WAV output (a temp
//! file moved into place, or in place for a pipe). Frames of 4,096 samples are encoded as the audio
//! arrives, so memory stays flat; the STREAMINFO header (length, MD5, frame sizes) is written first as a
//! placeholder and rewritten once the stream is complete (a pipe keeps the placeholder's "unknown"
//! length and MD5, which FLAC allows).
use std::io::{Seek, SeekFrom, Write};

use flacenc::bitsink::ByteSink;
use flacenc::component::{BitRepr, Stream, StreamInfo};
use flacenc::config::Encoder;
use flacenc::error::{Verified, Verify};
use flacenc::source::{Context, Fill, FrameBuf};

use super::wav::SampleFormat;
use super::wav_write::OutputFile;
use crate::{Error, Result};

/// Samples per channel in one FLAC frame (flacenc's default).
const BLOCK_FRAMES: usize = 4096;
/// The highest rate flacenc encodes.
pub const MAX_FLAC_RATE_HZ: u32 = 96_000;

fn flac_error(e: impl std::fmt::Debug) -> Error {
    Error::InvalidInput(format!("FLAC encoder: {e:?}").replace('\n', " "))
}

/// A FLAC file written block by block (see the module).
pub struct FlacWriter {
    file: OutputFile,
    config: Verified<Encoder>,
    info: StreamInfo,
    buffers: (FrameBuf, Context),
    channels: usize,
    bits: u32,
    /// Interleaved integer samples not yet encoded (less than one frame).
    pending: Vec<i32>,
    encoded: ByteSink,
    beyond_full_scale: u64,
}

impl FlacWriter {
    /// Starts a FLAC stream of `channels` at `rate_hz` in `format` (16- or 24-bit integers).
    pub(crate) fn start(
        mut file: OutputFile,
        rate_hz: u32,
        format: SampleFormat,
        channels: usize,
    ) -> Result<Self> {
        let bits = match format {
            SampleFormat::I16 => 16,
            SampleFormat::I24 => 24,
            other => {
                return Err(Error::UnsupportedFormat(format!(
                "FLAC output holds 16- or 24-bit integers, not {} (choose --out-format i16 or i24)",
                other.name()
            )))
            }
        };
        if rate_hz > MAX_FLAC_RATE_HZ || channels > 8 {
            return Err(Error::UnsupportedFormat(format!(
                "FLAC output takes up to {MAX_FLAC_RATE_HZ} Hz and 8 channels ({rate_hz} Hz, {channels} \
                 channels here): write WAV instead"
            )));
        }
        let mut info =
            StreamInfo::new(rate_hz as usize, channels, bits as usize).map_err(flac_error)?;
        info.set_block_sizes(BLOCK_FRAMES, BLOCK_FRAMES)
            .map_err(flac_error)?;
        let config = Encoder::default()
            .into_verified()
            .map_err(|(_, e)| flac_error(e))?;
        // The header's placeholder: rewritten in `finish` where the output can seek.
        file.out.write_all(&header_bytes(&info)?)?;
        Ok(Self {
            config,
            buffers: (
                FrameBuf::with_size(channels, BLOCK_FRAMES).map_err(flac_error)?,
                Context::new(bits as usize, channels),
            ),
            channels,
            bits,
            pending: Vec::with_capacity(BLOCK_FRAMES * channels),
            encoded: ByteSink::new(),
            beyond_full_scale: 0,
            info,
            file,
        })
    }

    /// Appends one block: one slice per channel of equal length (full scale ±1, rounded and clipped).
    pub fn write_block<S: AsRef<[f32]>>(&mut self, block: &[S]) -> Result<()> {
        let frames = super::block::frames_to_write(block, self.channels)?;
        let full = (1i64 << (self.bits - 1)) as f64;
        for i in 0..frames {
            for ch in block {
                let x = ch.as_ref()[i];
                if x.abs() > 1.0 {
                    self.beyond_full_scale += 1;
                }
                self.pending
                    .push((f64::from(x) * full).round().clamp(-full, full - 1.0) as i32);
            }
            if self.pending.len() == BLOCK_FRAMES * self.channels {
                self.encode_pending()?;
            }
        }
        Ok(())
    }

    fn encode_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.buffers
            .fill_interleaved(&self.pending)
            .map_err(flac_error)?;
        let number = self.buffers.1.current_frame_number().unwrap_or(0);
        let frame =
            flacenc::encode_fixed_size_frame(&self.config, &self.buffers.0, number, &self.info)
                .map_err(flac_error)?;
        self.info.update_frame_info(&frame);
        self.encoded.clear();
        frame.write(&mut self.encoded).map_err(flac_error)?;
        self.file.out.write_all(self.encoded.as_slice())?;
        self.pending.clear();
        Ok(())
    }

    /// The sample format written (16- or 24-bit).
    pub fn format(&self) -> SampleFormat {
        if self.bits == 16 {
            SampleFormat::I16
        } else {
            SampleFormat::I24
        }
    }

    /// Samples beyond full scale (|x| > 1), clipped.
    pub fn beyond_full_scale(&self) -> u64 {
        self.beyond_full_scale
    }

    /// Encodes the last partial frame, completes STREAMINFO where the output can seek, and moves a
    /// temp file into place.
    pub fn finish(mut self) -> Result<()> {
        self.encode_pending()?;
        if let Some(start) = self.file.seekable_start {
            self.info.set_md5_digest(&self.buffers.1.md5_digest());
            // Fixed blocking: the spec's minimum block size leaves out the last, shorter block (a
            // smaller one makes decoders such as symphonia take the stream for variable blocking).
            self.info
                .set_block_sizes(BLOCK_FRAMES, BLOCK_FRAMES)
                .map_err(flac_error)?;
            let header = header_bytes(&self.info)?;
            self.file.out.seek(SeekFrom::Start(start))?;
            self.file.out.write_all(&header)?;
        }
        self.file.commit()
    }
}

/// `fLaC` and the STREAMINFO block (the only metadata block): 42 bytes whatever the values.
fn header_bytes(info: &StreamInfo) -> Result<Vec<u8>> {
    let mut sink = ByteSink::new();
    Stream::with_stream_info(info.clone())
        .write(&mut sink)
        .map_err(flac_error)?;
    Ok(sink.as_slice().to_vec())
}
