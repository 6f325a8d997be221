//! Any input file as one block reader: WAV through dfn4's own reader (which also takes pipes and
//! streams of unknown length), compressed formats through [`super::compressed`] (feature `formats`).
//! The container is recognised by its first bytes, the extension being only a hint, so a `.wav` that
//! is really an MP3 (or the reverse) is still read.
use std::fs::File;
use std::io::Read;
use std::path::Path;

#[cfg(feature = "formats")]
use super::compressed::CompressedReader;
use super::wav::{SampleFormat, WavReader};
#[cfg(not(feature = "formats"))]
use crate::Error;
use crate::Result;

/// The extensions (lower case) of the files dfn4 reads: what directory mode picks up.
pub fn readable_extensions() -> &'static [&'static str] {
    #[cfg(feature = "formats")]
    {
        &["wav", "flac", "ogg", "oga", "mp3", "m4a", "mp4", "aac"]
    }
    #[cfg(not(feature = "formats"))]
    {
        &["wav"]
    }
}

/// Whether `path`'s extension is one dfn4 reads (any case).
pub fn is_readable_extension(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        readable_extensions()
            .iter()
            .any(|r| e.eq_ignore_ascii_case(r))
    })
}

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    /// RIFF/WAVE (or RF64, which the WAV reader names and refuses).
    Wav,
    /// FLAC, Ogg, an MP3 frame or ID3 tag, an MP4 `ftyp` box, an ADTS AAC frame.
    Compressed,
    Unknown,
}

fn sniff(head: &[u8]) -> Container {
    let at = |i: usize, s: &[u8]| head.get(i..i + s.len()) == Some(s);
    if at(0, b"RIFF") || at(0, b"RF64") || at(0, b"BW64") {
        Container::Wav
    } else if at(0, b"fLaC") || at(0, b"OggS") || at(0, b"ID3") || at(4, b"ftyp") {
        Container::Compressed
    } else if head.len() >= 2 && head[0] == 0xff && head[1] & 0xe0 == 0xe0 {
        // An MPEG audio or ADTS sync word.
        Container::Compressed
    } else {
        Container::Unknown
    }
}

/// An input file read block by block, whatever its format.
pub enum AudioReader {
    /// A WAV file or stream.
    Wav(WavReader<File>),
    /// A compressed file.
    #[cfg(feature = "formats")]
    Compressed(Box<CompressedReader>),
}

impl AudioReader {
    /// Opens `path`: WAV, or (feature `formats`) FLAC, Ogg Vorbis, MP3, AAC/M4A or ALAC, recognised
    /// by content. A pipe or device is read as WAV.
    pub fn open(path: &Path) -> Result<Self> {
        let mut head = [0u8; 12];
        let n = {
            let mut file = File::open(path)?;
            if !file.metadata()?.is_file() {
                return Ok(Self::Wav(WavReader::open(path)?));
            }
            let mut n = 0;
            while n < head.len() {
                match file.read(&mut head[n..])? {
                    0 => break,
                    k => n += k,
                }
            }
            n
        };
        match sniff(&head[..n]) {
            Container::Wav => Ok(Self::Wav(WavReader::open(path)?)),
            Container::Compressed => Self::open_compressed(path),
            Container::Unknown if is_readable_extension(path) && !has_extension(path, "wav") => {
                Self::open_compressed(path)
            }
            // The WAV reader's message says what is wrong with a file that is no audio at all.
            Container::Unknown => Ok(Self::Wav(WavReader::open(path)?)),
        }
    }

    #[cfg(feature = "formats")]
    fn open_compressed(path: &Path) -> Result<Self> {
        Ok(Self::Compressed(Box::new(CompressedReader::open(path)?)))
    }

    #[cfg(not(feature = "formats"))]
    fn open_compressed(_path: &Path) -> Result<Self> {
        Err(Error::UnsupportedFormat(
            "compressed audio needs dfn4 built with the cargo feature \"formats\" (this build reads WAV only)"
                .into(),
        ))
    }

    /// Sample rate in Hz.
    pub fn sample_rate_hz(&self) -> u32 {
        match self {
            Self::Wav(r) => r.sample_rate_hz(),
            #[cfg(feature = "formats")]
            Self::Compressed(r) => r.sample_rate_hz(),
        }
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        match self {
            Self::Wav(r) => r.channels(),
            #[cfg(feature = "formats")]
            Self::Compressed(r) => r.channels(),
        }
    }

    /// The sample format an output defaults to: a WAV input's own, a lossless codec's bit depth,
    /// 16-bit for a lossy codec.
    pub fn format(&self) -> SampleFormat {
        match self {
            Self::Wav(r) => r.format(),
            #[cfg(feature = "formats")]
            Self::Compressed(r) => r.format(),
        }
    }

    /// The exact length in frames when the header states it (a WAV file); `None` for streams and
    /// compressed files, whose length is known once they are read.
    pub fn exact_frames(&self) -> Option<u64> {
        match self {
            Self::Wav(r) => r.length_known().then(|| r.frames()),
            #[cfg(feature = "formats")]
            Self::Compressed(_) => None,
        }
    }

    /// The length for a progress bar: exact, or what a container announces; 0 when unknown.
    pub fn progress_frames(&self) -> u64 {
        match self {
            Self::Wav(r) => r.exact_or_zero(),
            #[cfg(feature = "formats")]
            Self::Compressed(r) => r.announced_frames().unwrap_or(0),
        }
    }

    /// Frames read so far.
    pub fn frames_read(&self) -> u64 {
        match self {
            Self::Wav(r) if r.length_known() => r.frames_read(),
            Self::Wav(r) => r.frames(),
            #[cfg(feature = "formats")]
            Self::Compressed(r) => r.frames_read(),
        }
    }

    /// NaN/Inf samples replaced by 0 so far.
    pub fn non_finite_replaced(&self) -> u64 {
        match self {
            Self::Wav(r) => r.non_finite_replaced(),
            #[cfg(feature = "formats")]
            Self::Compressed(r) => r.non_finite_replaced(),
        }
    }

    /// Reads up to `max_frames` frames into `out` (one vector per channel); 0 at the end.
    pub fn read_block(&mut self, max_frames: usize, out: &mut [Vec<f32>]) -> Result<usize> {
        match self {
            Self::Wav(r) => r.read_block(max_frames, out),
            #[cfg(feature = "formats")]
            Self::Compressed(r) => r.read_block(max_frames, out),
        }
    }
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_told_by_their_first_bytes() {
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVE"), Container::Wav);
        assert_eq!(sniff(b"fLaC\0\0\0\x22"), Container::Compressed);
        assert_eq!(sniff(b"OggS\0\x02"), Container::Compressed);
        assert_eq!(sniff(b"ID3\x04\0"), Container::Compressed);
        assert_eq!(sniff(&[0xff, 0xfb, 0x90, 0x64]), Container::Compressed);
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A "), Container::Compressed);
        assert_eq!(sniff(b"hello"), Container::Unknown);
        assert_eq!(sniff(b""), Container::Unknown);
    }
}
