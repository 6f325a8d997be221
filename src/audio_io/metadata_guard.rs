//! A compressed file's source with its FLAC metadata blocks that dfn4 never uses (Vorbis comments,
//! pictures, cue sheets, application data) turned into padding before the demuxer sees them.
//!
//! Why: symphonia 0.5 allocates a Vorbis comment or a picture at the size its header claims, before
//! checking it against the block that holds it. A 500-byte FLAC file can claim a 4 GiB comment (found by
//! the `audio_decoder` fuzz target), which aborts the process where the allocation fails. Tags and cover
//! art play no part in denoising, so their block type byte is changed to PADDING, which the demuxer skips
//! by length; the audio and STREAMINFO are untouched. The patch is applied as the bytes are read, so the
//! file itself is never modified and the source stays seekable.
use std::io::{self, Read, Seek, SeekFrom};

use symphonia::core::io::MediaSource;

/// FLAC metadata block types.
const PADDING: u8 = 1;
const APPLICATION: u8 = 2;
const VORBIS_COMMENT: u8 = 4;
const CUESHEET: u8 = 5;
const PICTURE: u8 = 6;
/// Blocks walked at most (a real file has a handful).
const MAX_BLOCKS: usize = 4096;

/// `inner` with single bytes replaced at fixed offsets.
pub struct PatchedSource<R> {
    inner: R,
    /// (offset, new byte), sorted by offset.
    patches: Vec<(u64, u8)>,
    pos: u64,
    len: Option<u64>,
}

impl<R: Read + Seek> PatchedSource<R> {
    /// Wraps `inner` (positioned at the start of the file); a FLAC file gets its unused metadata
    /// blocks turned into padding, anything else passes through unchanged.
    pub fn new(mut inner: R, len: Option<u64>) -> io::Result<Self> {
        let patches = flac_metadata_patches(&mut inner)?;
        inner.seek(SeekFrom::Start(0))?;
        Ok(Self {
            inner,
            patches,
            pos: 0,
            len,
        })
    }
}

/// How far into a file the FLAC marker is looked for: as far as symphonia's probe searches for a
/// container (past an ID3 tag or junk).
const MARKER_SEARCH_BYTES: u64 = 1 << 20;

/// Offsets and new values of the block-type bytes to rewrite (empty for a file that is not FLAC).
fn flac_metadata_patches<R: Read + Seek>(r: &mut R) -> io::Result<Vec<(u64, u8)>> {
    let mut head = Vec::new();
    r.by_ref()
        .take(MARKER_SEARCH_BYTES)
        .read_to_end(&mut head)?;
    let Some(marker) = head.windows(4).position(|w| w == b"fLaC") else {
        return Ok(Vec::new());
    };
    let mut patches = Vec::new();
    let mut at = marker as u64 + 4;
    r.seek(SeekFrom::Start(at))?;
    for _ in 0..MAX_BLOCKS {
        let mut header = [0u8; 4];
        if r.read_exact(&mut header).is_err() {
            break;
        }
        let (last, kind) = (header[0] & 0x80, header[0] & 0x7f);
        let len = u64::from(u32::from_be_bytes([0, header[1], header[2], header[3]]));
        if matches!(kind, APPLICATION | VORBIS_COMMENT | CUESHEET | PICTURE) {
            patches.push((at, last | PADDING));
        }
        if last != 0 {
            break;
        }
        at += 4 + len;
        r.seek(SeekFrom::Start(at))?;
    }
    Ok(patches)
}

impl<R: Read> Read for PatchedSource<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let (from, to) = (self.pos, self.pos + n as u64);
        for &(at, byte) in &self.patches {
            if (from..to).contains(&at) {
                buf[(at - from) as usize] = byte;
            }
        }
        self.pos = to;
        Ok(n)
    }
}

impl<R: Seek> Seek for PatchedSource<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

impl<R: Read + Seek + Send + Sync> MediaSource for PatchedSource<R> {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn block(last: bool, kind: u8, body: &[u8]) -> Vec<u8> {
        let len = (body.len() as u32).to_be_bytes();
        let mut b = vec![
            if last { 0x80 | kind } else { kind },
            len[1],
            len[2],
            len[3],
        ];
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn comments_and_pictures_become_padding_and_the_rest_is_untouched() {
        let mut file = b"fLaC".to_vec();
        file.extend(block(false, 0, &[7; 34])); // STREAMINFO
                                                // A comment that claims a 4 GiB vendor string inside a 12-byte block.
        file.extend(block(
            false,
            VORBIS_COMMENT,
            &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 2, 3, 4],
        ));
        file.extend(block(true, PICTURE, &[9; 8]));
        file.extend_from_slice(&[0xff, 0xf8, 1, 2, 3]); // the first frame's bytes
        let len = file.len() as u64;
        let mut src = PatchedSource::new(Cursor::new(file.clone()), Some(len)).unwrap();
        let mut out = Vec::new();
        // Small reads: the patches land whatever the read boundaries.
        let mut buf = [0u8; 3];
        loop {
            let n = src.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out.len(), file.len());
        let comment_at = 4 + 4 + 34;
        let picture_at = comment_at + 4 + 12;
        assert_eq!(out[comment_at], PADDING);
        assert_eq!(out[picture_at], 0x80 | PADDING);
        let changed: Vec<usize> = (0..file.len()).filter(|&i| out[i] != file[i]).collect();
        assert_eq!(changed, [comment_at, picture_at]);
        // Not FLAC: nothing changes.
        let other = b"OggS and more".to_vec();
        let src = PatchedSource::new(Cursor::new(other), None).unwrap();
        assert!(src.patches.is_empty());
        // FLAC after an ID3 tag (the probe finds it there too).
        let mut tagged = b"ID3\x04\0\0\0\0\0\x03abc".to_vec();
        let offset = tagged.len();
        tagged.extend_from_slice(&file);
        let src = PatchedSource::new(Cursor::new(tagged), None).unwrap();
        assert_eq!(
            src.patches,
            [
                ((offset + comment_at) as u64, PADDING),
                ((offset + picture_at) as u64, 0x80 | PADDING)
            ]
        );
    }
}
