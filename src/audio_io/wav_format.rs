//! A first look at a WAV file's RIFF header, before hound decodes it: tells a non-WAV file, a compressed
//! encoding and an unsupported bit depth apart, so each gets a message that names the problem (hound
//! reports them as one generic "unsupported" or as unrelated format errors).
use crate::{Error, Result};

/// `WAVE_FORMAT_PCM`: integer samples.
const TAG_PCM: u16 = 0x0001;
/// `WAVE_FORMAT_IEEE_FLOAT`: float samples.
const TAG_IEEE_FLOAT: u16 = 0x0003;
/// `WAVE_FORMAT_EXTENSIBLE`: the real tag is the first two bytes of the sub-format GUID.
const TAG_EXTENSIBLE: u16 = 0xfffe;

/// The sample encoding declared by a WAV header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeclaredFormat {
    /// Format tag (after resolving `WAVE_FORMAT_EXTENSIBLE`).
    pub format_tag: u16,
    /// Bits per sample (the valid bits of an extensible header when it states them).
    pub bits_per_sample: u16,
    /// Bytes per frame (`nBlockAlign`): channels × container bytes (a 24-bit sample may sit in 4).
    pub block_align: u16,
}

impl DeclaredFormat {
    /// Whether dfn4 reads this encoding: 16/24/32-bit integer PCM or 32-bit float.
    pub fn check_supported(&self) -> Result<()> {
        const SUPPORTED: &str = "supported: 16/24/32-bit integer PCM and 32-bit float";
        match (self.format_tag, self.bits_per_sample) {
            (TAG_PCM, 16 | 24 | 32) | (TAG_IEEE_FLOAT, 32) => Ok(()),
            (TAG_PCM, bits) => Err(Error::Wav(format!(
                "unsupported sample format: {bits}-bit integer ({SUPPORTED})"
            ))),
            (TAG_IEEE_FLOAT, bits) => Err(Error::Wav(format!(
                "unsupported sample format: {bits}-bit float ({SUPPORTED})"
            ))),
            (tag, _) => Err(Error::Wav(format!(
                "unsupported WAV encoding: format tag 0x{tag:04x} is compressed or not PCM ({SUPPORTED})"
            ))),
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads the RIFF/WAVE signature and the `fmt ` chunk of a whole file held in memory.
pub fn probe(bytes: &[u8]) -> Result<DeclaredFormat> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        let what = if bytes.len() >= 4 && (&bytes[0..4] == b"RF64" || &bytes[0..4] == b"BW64") {
            "RF64/BW64 files are not supported"
        } else {
            "no RIFF/WAVE header"
        };
        return Err(Error::Wav(format!("not a WAV file ({what})")));
    }
    let mut at = 12;
    while let (Some(id), Some(len)) = (bytes.get(at..at + 4), u32_at(bytes, at + 4)) {
        let body = at + 8;
        if id == b"fmt " {
            let tag = u16_at(bytes, body);
            let block_align = u16_at(bytes, body + 12);
            let bits = u16_at(bytes, body + 14);
            let (Some(tag), Some(block_align), Some(bits)) = (tag, block_align, bits) else {
                return Err(Error::Wav(
                    "not a valid WAV file: fmt chunk is cut short".into(),
                ));
            };
            if tag != TAG_EXTENSIBLE {
                return Ok(DeclaredFormat {
                    format_tag: tag,
                    bits_per_sample: bits,
                    block_align,
                });
            }
            // WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4) subFormat GUID(16) after the
            // 16-byte base; the GUID starts with the plain format tag.
            let valid_bits = u16_at(bytes, body + 18);
            let sub_tag = u16_at(bytes, body + 24);
            let (Some(valid_bits), Some(sub_tag)) = (valid_bits, sub_tag) else {
                return Err(Error::Wav(
                    "not a valid WAV file: extensible fmt chunk is cut short".into(),
                ));
            };
            return Ok(DeclaredFormat {
                format_tag: sub_tag,
                bits_per_sample: if valid_bits > 0 { valid_bits } else { bits },
                block_align,
            });
        }
        // Chunks are padded to an even length; a length that overflows ends the search.
        let Some(next) = body.checked_add(len as usize + (len as usize & 1)) else {
            break;
        };
        at = next;
    }
    Err(Error::Wav(
        "not a valid WAV file: no fmt chunk before the end of the file".into(),
    ))
}

/// The `data` chunk, when its header lies within `head` (the start of a RIFF file): the byte offset of
/// its first sample and the length its header declares.
pub fn data_chunk(head: &[u8]) -> Option<(usize, u32)> {
    let mut at = 12usize;
    while let (Some(id), Some(len)) = (head.get(at..at + 4), u32_at(head, at + 4)) {
        let body = at + 8;
        if id == b"data" {
            return Some((body, len));
        }
        at = body.checked_add(len as usize + (len as usize & 1))?;
    }
    None
}

/// A declared data length that means "read to the end": 0xFFFFFFFF is what ffmpeg and sox write to a
/// pipe, 0 what some recorders leave when they are killed before they patch the header.
pub fn is_unknown_length(declared_len: u32) -> bool {
    declared_len == 0 || declared_len == u32::MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(tag: u16, bits: u16, extensible_sub: Option<u16>) -> Vec<u8> {
        let mut fmt = Vec::new();
        let written_tag = if extensible_sub.is_some() {
            TAG_EXTENSIBLE
        } else {
            tag
        };
        fmt.extend_from_slice(&written_tag.to_le_bytes());
        fmt.extend_from_slice(&1u16.to_le_bytes()); // channels
        fmt.extend_from_slice(&48_000u32.to_le_bytes());
        fmt.extend_from_slice(&(48_000u32 * bits as u32 / 8).to_le_bytes());
        fmt.extend_from_slice(&(bits / 8).to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        if let Some(sub) = extensible_sub {
            fmt.extend_from_slice(&22u16.to_le_bytes());
            fmt.extend_from_slice(&bits.to_le_bytes());
            fmt.extend_from_slice(&0u32.to_le_bytes());
            fmt.extend_from_slice(&sub.to_le_bytes());
            fmt.extend_from_slice(&[0u8; 14]);
        }
        let mut out = b"RIFF\0\0\0\0WAVE".to_vec();
        // An odd-sized chunk before fmt checks the padding rule.
        out.extend_from_slice(b"LIST");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&[1, 2, 3, 0]);
        out.extend_from_slice(b"fmt ");
        out.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        out.extend_from_slice(&fmt);
        out
    }

    #[test]
    fn accepts_the_supported_encodings() {
        for (tag, bits) in [(1, 16), (1, 24), (1, 32), (3, 32)] {
            let f = probe(&header(tag, bits, None)).unwrap();
            assert_eq!((f.format_tag, f.bits_per_sample), (tag, bits));
            assert_eq!(f.block_align, bits / 8);
            f.check_supported().unwrap();
        }
        let f = probe(&header(3, 32, Some(3))).unwrap();
        assert_eq!(f.format_tag, TAG_IEEE_FLOAT);
        f.check_supported().unwrap();
    }

    #[test]
    fn names_what_is_unsupported() {
        let msg = |h: Vec<u8>| {
            probe(&h)
                .unwrap()
                .check_supported()
                .unwrap_err()
                .to_string()
        };
        assert!(msg(header(1, 8, None)).contains("8-bit integer"));
        assert!(msg(header(3, 64, None)).contains("64-bit float"));
        assert!(msg(header(3, 64, Some(3))).contains("64-bit float"));
        assert!(msg(header(2, 4, None)).contains("format tag 0x0002 is compressed"));
    }

    #[test]
    fn finds_the_data_chunk_after_padded_chunks() {
        let mut h = header(1, 16, None);
        assert_eq!(data_chunk(&h), None);
        let at = h.len() + 8;
        h.extend_from_slice(b"data");
        h.extend_from_slice(&6u32.to_le_bytes());
        assert_eq!(data_chunk(&h), Some((at, 6)));
        assert!(is_unknown_length(0) && is_unknown_length(u32::MAX) && !is_unknown_length(6));
    }

    #[test]
    fn rejects_non_wav_and_missing_fmt() {
        assert!(probe(b"hello world, not audio")
            .unwrap_err()
            .to_string()
            .contains("not a WAV file"));
        assert!(probe(b"RIFF\0\0\0\0WAVEdata\0\0\0\0")
            .unwrap_err()
            .to_string()
            .contains("no fmt chunk"));
    }
}
