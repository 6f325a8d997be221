//! Compressed audio files read block by block with symphonia (pure Rust): FLAC, Ogg Vorbis, MP3,
//! AAC and ALAC in MP4/M4A. One packet is decoded at a time, so memory stays flat for any length. A
//! corrupt packet is an error that names its position, never a silent skip (the output would then be
//! shorter than the input and out of step with it).
use std::fs::File;
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::metadata_guard::PatchedSource;
use super::mp4_guard;
use super::wav::SampleFormat;
use crate::{Error, Result};

/// The file extensions (lower case) read through this module.
pub const EXTENSIONS: &[&str] = &["flac", "ogg", "oga", "mp3", "m4a", "mp4", "aac"];

/// How far the decoded length may fall short of what a container announces: an encoder's priming and
/// padding (1024–2112 samples for AAC and MP3) that a container counts and the decoder trims.
const LENGTH_SLACK_FRAMES: u64 = 4096;

/// A compressed audio file read block by block (see the module).
pub struct CompressedReader {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    rate_hz: u32,
    channels: usize,
    /// The format an output should default to: the source's bit depth for lossless codecs, 16-bit
    /// for lossy ones.
    out_format: SampleFormat,
    /// Frames the container announces, if it does (an estimate for some MP3s).
    announced_frames: Option<u64>,
    frames_read: u64,
    /// Frames decoded so far (ahead of `frames_read` by what is pending).
    frames_decoded: u64,
    /// Decoded interleaved samples not yet handed out, from `pending_at`.
    pending: Vec<f32>,
    pending_at: usize,
    sample_buf: Option<SampleBuffer<f32>>,
    non_finite_replaced: u64,
    ended: bool,
    /// The timestamp the next packet must have; a jump means the demuxer skipped damaged data.
    next_ts: Option<u64>,
    name: String,
}

/// Runs a call into symphonia, turning a panic on hostile data (its fuzzing found overflows in
/// debug-checked arithmetic, e.g. the ADTS reader's frame-count estimate) into an error: a damaged file
/// must end the enhancement with a message, never the process.
fn shielded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T> {
    SHIELD_DEPTH.with(|d| d.set(d.get() + 1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    SHIELD_DEPTH.with(|d| d.set(d.get() - 1));
    result.map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown failure".into());
        Error::InvalidInput(format!("corrupt audio: the {what} failed on it ({msg})"))
    })
}

thread_local! {
    /// Calls into symphonia under [`shielded`] on this thread (a panic hook runs on the panicking
    /// thread, so it can tell a caught panic from any other).
    static SHIELD_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether a panic happens inside the decoders (which [`CompressedReader`] catches and reports as an
/// error): a front end's panic hook can stay quiet about those and keep reporting the rest. Decided by
/// where the panic happens, not where it is raised: symphonia's ADTS reader panicked inside the
/// standard library (`step_by(0)`, a fuzz finding).
pub fn panic_is_caught_decoder_failure(info: &std::panic::PanicHookInfo<'_>) -> bool {
    let _ = info;
    SHIELD_DEPTH.with(|d| d.get() > 0)
}

fn at_position(e: Error, position_s: f64) -> Error {
    match e {
        Error::InvalidInput(m) => Error::InvalidInput(format!("{m} at {position_s:.2} s")),
        other => other,
    }
}

fn decode_error(e: SymphoniaError) -> Error {
    match e {
        SymphoniaError::IoError(e) => Error::Io(e),
        SymphoniaError::Unsupported(what) => {
            Error::UnsupportedFormat(format!("unsupported audio: {what}"))
        }
        other => Error::InvalidInput(format!("corrupt or unreadable audio file: {other}")),
    }
}

impl CompressedReader {
    /// Opens `path`, probing its container (the extension is a hint) and making a decoder for its first
    /// audio track.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let mut file = std::io::BufReader::new(file);
        mp4_guard::check_sample_tables(&mut file, len)?.map_err(Error::InvalidInput)?;
        let source = PatchedSource::new(file, Some(len))?;
        Self::from_source(Box::new(source), &hint)
    }

    /// Reads a compressed file held in memory (the container is recognised by content).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let len = bytes.len() as u64;
        let mut bytes = std::io::Cursor::new(bytes);
        mp4_guard::check_sample_tables(&mut bytes, len)?.map_err(Error::InvalidInput)?;
        let source = PatchedSource::new(bytes, Some(len))?;
        Self::from_source(Box::new(source), &Hint::new())
    }

    fn from_source(source: Box<dyn MediaSource>, hint: &Hint) -> Result<Self> {
        let mss = MediaSourceStream::new(source, MediaSourceStreamOptions::default());
        let options = FormatOptions {
            // Encoder delay and padding removed, so the decoded length is the recorded one.
            enable_gapless: true,
            ..FormatOptions::default()
        };
        let probed = shielded("container reader", || {
            symphonia::default::get_probe().format(hint, mss, &options, &MetadataOptions::default())
        })?
        .map_err(decode_error)?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| Error::InvalidInput("the file holds no audio track".into()))?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let lossless = matches!(
            params.codec,
            symphonia::core::codecs::CODEC_TYPE_FLAC | symphonia::core::codecs::CODEC_TYPE_ALAC
        );
        let out_format = match (lossless, params.bits_per_sample) {
            (true, Some(b)) if b > 16 => SampleFormat::I24,
            _ => SampleFormat::I16,
        };
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(decode_error)?;
        let mut reader = Self {
            track_id,
            // Some containers (MP4) state the layout only in the first decoded packet: 0 until known.
            rate_hz: params.sample_rate.unwrap_or(0),
            channels: params.channels.map_or(0, |c| c.count()),
            out_format,
            announced_frames: params.n_frames,
            frames_read: 0,
            frames_decoded: 0,
            pending: Vec::new(),
            pending_at: 0,
            sample_buf: None,
            non_finite_replaced: 0,
            ended: false,
            next_ts: None,
            name: symphonia::default::get_codecs()
                .get_codec(params.codec)
                .map_or_else(|| "compressed".to_string(), |d| d.short_name.to_uppercase()),
            format,
            decoder,
        };
        if reader.rate_hz == 0 || reader.channels == 0 {
            reader.ended = !reader.decode_next()?;
        }
        if reader.rate_hz == 0 || reader.channels == 0 {
            return Err(Error::InvalidInput(
                "the audio track states no sample rate or channel layout and holds no audio".into(),
            ));
        }
        crate::config::check_format(reader.rate_hz, reader.channels)?;
        Ok(reader)
    }

    /// Sample rate in Hz.
    pub fn sample_rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The sample format an output should default to (16-bit for lossy codecs).
    pub fn format(&self) -> SampleFormat {
        self.out_format
    }

    /// Frames the container announces (progress only: the decoded length is the truth).
    pub fn announced_frames(&self) -> Option<u64> {
        self.announced_frames
    }

    /// Frames handed out so far.
    pub fn frames_read(&self) -> u64 {
        self.frames_read
    }

    /// NaN/Inf decoded samples replaced by 0 so far.
    pub fn non_finite_replaced(&self) -> u64 {
        self.non_finite_replaced
    }

    /// Decodes the next packet of the track into `pending`; false at the end of the stream.
    fn decode_next(&mut self) -> Result<bool> {
        loop {
            let next = shielded("container reader", || self.format.next_packet())
                .map_err(|e| self.at_position(e))?;
            let packet = match next {
                Ok(p) => p,
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(false)
                }
                Err(SymphoniaError::ResetRequired) => return Ok(false),
                Err(e) => return Err(self.corrupt(e)),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            if let Some(expected) = self.next_ts {
                if packet.ts() != expected {
                    return Err(Error::InvalidInput(format!(
                        "corrupt {} audio at {:.2} s (frame {}): the stream jumps from timestamp \
                         {expected} to {}, damaged data was skipped",
                        self.name,
                        self.position_s(),
                        self.frames_decoded,
                        packet.ts()
                    )));
                }
            }
            self.next_ts = packet.ts().checked_add(packet.dur());
            let position = self.position_s();
            let decoded = match shielded("decoder", || self.decoder.decode(&packet)) {
                Err(e) => return Err(at_position(e, position)),
                Ok(Err(e)) => return Err(self.corrupt(e)),
                Ok(Ok(d)) => d,
            };
            let spec = *decoded.spec();
            if self.channels == 0 {
                // The first packet of a container that did not state the layout.
                self.channels = spec.channels.count();
                self.rate_hz = spec.rate;
            }
            if spec.channels.count() != self.channels || spec.rate != self.rate_hz {
                return Err(Error::UnsupportedFormat(format!(
                    "the stream changes format at {:.2} s ({} Hz, {} channels)",
                    self.position_s(),
                    spec.rate,
                    spec.channels.count()
                )));
            }
            let capacity = decoded.capacity() as u64;
            let buf = match &mut self.sample_buf {
                Some(b) if b.capacity() as u64 >= capacity * spec.channels.count() as u64 => b,
                slot => slot.insert(SampleBuffer::new(capacity, spec)),
            };
            buf.copy_interleaved_ref(decoded);
            self.pending.clear();
            self.pending_at = 0;
            self.pending.extend_from_slice(buf.samples());
            self.frames_decoded += (self.pending.len() / self.channels) as u64;
            if !self.pending.is_empty() {
                return Ok(true);
            }
        }
    }

    fn at_position(&self, e: Error) -> Error {
        at_position(e, self.position_s())
    }

    fn position_s(&self) -> f64 {
        self.frames_decoded as f64 / f64::from(self.rate_hz)
    }

    fn corrupt(&self, e: SymphoniaError) -> Error {
        match e {
            SymphoniaError::IoError(e) => Error::Io(e),
            other => Error::InvalidInput(format!(
                "corrupt {} audio at {:.2} s (frame {}): {other}",
                self.name,
                self.position_s(),
                self.frames_decoded
            )),
        }
    }

    /// At the end: a container that states the length (FLAC's STREAMINFO, MP4, an MP3's Xing or LAME
    /// header) must have delivered all of it, else the file was cut short or damaged.
    fn check_length(&self) -> Result<()> {
        let decoded = self.frames_decoded;
        match self.announced_frames {
            Some(n) if decoded + LENGTH_SLACK_FRAMES < n => Err(Error::InvalidInput(format!(
                "truncated or corrupt {} audio: it ends at {:.2} s, {decoded} of the {n} frames the \
                 file announces",
                self.name,
                decoded as f64 / f64::from(self.rate_hz)
            ))),
            _ => Ok(()),
        }
    }

    /// Reads up to `max_frames` frames into `out` (one vector per channel, cleared first); returns the
    /// number read, 0 at the end.
    pub fn read_block(&mut self, max_frames: usize, out: &mut [Vec<f32>]) -> Result<usize> {
        super::block::clear_for_read(out, self.channels)?;
        let nb = self.channels;
        let mut n = 0;
        while n < max_frames && !self.ended {
            if self.pending_at == self.pending.len() && !self.decode_next()? {
                self.ended = true;
                self.check_length()?;
                break;
            }
            let take = ((self.pending.len() - self.pending_at) / nb).min(max_frames - n);
            let frames = &self.pending[self.pending_at..self.pending_at + take * nb];
            for frame in frames.chunks_exact(nb) {
                for (o, &x) in out.iter_mut().zip(frame) {
                    o.push(if x.is_finite() {
                        x
                    } else {
                        self.non_finite_replaced += 1;
                        0.0
                    });
                }
            }
            self.pending_at += take * nb;
            n += take;
        }
        self.frames_read += n as u64;
        Ok(n)
    }
}
