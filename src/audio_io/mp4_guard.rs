//! A check of an MP4/M4A file's sample tables before the demuxer reads them.
//!
//! Why: symphonia 0.5's MP4 reader sizes its tables and sample buffers from the counts and sizes the
//! boxes claim, before checking them against the bytes that hold them. A 4 kB file whose `stts` box
//! claims 4,294,967,295 entries makes it allocate 34 GB (found by the `audio_decoder` fuzz target), and
//! one whose `stsz` claims a 4 GiB sample makes it allocate that much: the process aborts where the
//! allocation fails. Every table entry takes bytes in its box and no sample can be larger than the
//! file, so a claim beyond either is a damaged file, refused here with one line before symphonia sees it.
//! Files that are not MP4 pass unchecked.
use std::io::{self, Read, Seek, SeekFrom};

/// Boxes whose children are boxes (the path to the sample tables, fragments included).
const CONTAINERS: [&[u8; 4]; 9] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"mvex", b"moof", b"traf",
];
/// Nesting and box counts beyond any real file.
const MAX_DEPTH: usize = 10;
const MAX_BOXES: usize = 100_000;

/// Checks `r` (any position; `len` bytes long) when it is an MP4 file: `Err` with a one-line reason
/// when a sample table claims more entries than its box holds or a sample larger than the file.
pub fn check_sample_tables<R: Read + Seek>(r: &mut R, len: u64) -> io::Result<Result<(), String>> {
    let mut head = [0u8; 8];
    r.seek(SeekFrom::Start(0))?;
    if r.read_exact(&mut head).is_err() || &head[4..8] != b"ftyp" {
        r.seek(SeekFrom::Start(0))?;
        return Ok(Ok(()));
    }
    let mut walk = Walk {
        r,
        file_len: len,
        boxes: 0,
    };
    let verdict = walk.children(0, len, 0);
    walk.r.seek(SeekFrom::Start(0))?;
    verdict
}

struct Walk<'a, R> {
    r: &'a mut R,
    file_len: u64,
    boxes: usize,
}

impl<R: Read + Seek> Walk<'_, R> {
    /// The boxes between `start` and `end`.
    fn children(&mut self, start: u64, end: u64, depth: usize) -> io::Result<Result<(), String>> {
        let mut at = start;
        while at + 8 <= end {
            self.boxes += 1;
            if self.boxes > MAX_BOXES || depth > MAX_DEPTH {
                return Ok(Err(
                    "damaged MP4 file: boxes nested or repeated beyond any real file".into(),
                ));
            }
            self.r.seek(SeekFrom::Start(at))?;
            let mut h = [0u8; 8];
            if self.r.read_exact(&mut h).is_err() {
                break;
            }
            let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
            let kind = [h[4], h[5], h[6], h[7]];
            let (header, size) = match size32 {
                0 => (8, end - at),
                1 => {
                    let mut big = [0u8; 8];
                    if self.r.read_exact(&mut big).is_err() {
                        break;
                    }
                    (16, u64::from_be_bytes(big))
                }
                n => (8, u64::from(n)),
            };
            if size < header {
                break;
            }
            // A box that runs past its parent (or the file) is still read by the demuxer as far as
            // the bytes go (a fuzz finding: a cut `moov` whose `stco` claimed 1.28 G entries), so it
            // is checked as far as they go too.
            let body = (at + header, (at + size).min(end));
            if CONTAINERS.contains(&&kind) {
                if let Err(e) = self.children(body.0, body.1, depth + 1)? {
                    return Ok(Err(e));
                }
            } else if let Err(e) = self.table(&kind, body.0, body.1 - body.0)? {
                return Ok(Err(e));
            }
            if at + size >= end {
                break;
            }
            at += size;
        }
        Ok(Ok(()))
    }

    /// One leaf box: a sample table's claims against its size and the file's.
    fn table(
        &mut self,
        kind: &[u8; 4],
        body: u64,
        body_len: u64,
    ) -> io::Result<Result<(), String>> {
        let name = String::from_utf8_lossy(kind).into_owned();
        let entry_bytes: u64 = match kind {
            b"stts" | b"ctts" | b"co64" => 8,
            b"stsc" => 12,
            b"stco" | b"stss" => 4,
            b"stsz" | b"trun" => 0, // below
            _ => return Ok(Ok(())),
        };
        // Full box: version and flags, then the count (stsz: a constant size first).
        let words = if kind == b"stsz" { 3 } else { 2 };
        let mut w = [0u8; 12];
        if body_len < 4 * words || self.r.read_exact(&mut w[..4 * words as usize]).is_err() {
            return Ok(Err(format!(
                "damaged MP4 file: the {name} box is cut short"
            )));
        }
        let word = |i: usize| {
            u64::from(u32::from_be_bytes([
                w[4 * i],
                w[4 * i + 1],
                w[4 * i + 2],
                w[4 * i + 3],
            ]))
        };
        let flags = word(0) & 0x00ff_ffff;
        let (count, per_entry, fixed) = match kind {
            b"stsz" => {
                let (constant, count) = (word(1), word(2));
                if constant > self.file_len {
                    return Ok(Err(format!(
                        "damaged MP4 file: a sample of {constant} bytes in a {}-byte file",
                        self.file_len
                    )));
                }
                (count, if constant == 0 { 4 } else { 0 }, 12)
            }
            b"trun" => {
                // Optional fields before the entries, then 4 bytes per per-sample field present.
                let fixed = 8 + 4 * (flags & 0x1 != 0) as u64 + 4 * (flags & 0x4 != 0) as u64;
                let per = 4 * (flags & 0xf00).count_ones() as u64;
                (word(1), per, fixed)
            }
            _ => (word(1), entry_bytes, 8),
        };
        if count.saturating_mul(per_entry) > body_len.saturating_sub(fixed) {
            return Ok(Err(format!(
                "damaged MP4 file: the {name} box claims {count} entries in {body_len} bytes"
            )));
        }
        if kind == b"stsz" && per_entry == 4 {
            // Each sample's size: none larger than the file (the table fits its box, checked above).
            self.r.seek(SeekFrom::Start(body + 12))?;
            let mut sizes = vec![0u8; (count * 4) as usize];
            if self.r.read_exact(&mut sizes).is_err() {
                return Ok(Err(format!(
                    "damaged MP4 file: the {name} box is cut short"
                )));
            }
            if let Some(big) = sizes
                .chunks_exact(4)
                .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .find(|&s| s > self.file_len)
            {
                return Ok(Err(format!(
                    "damaged MP4 file: a sample of {big} bytes in a {}-byte file",
                    self.file_len
                )));
            }
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    fn file_with_stbl(stbl_children: &[u8]) -> Vec<u8> {
        let stbl = mp4_box(b"stbl", stbl_children);
        let minf = mp4_box(b"minf", &stbl);
        let mdia = mp4_box(b"mdia", &minf);
        let trak = mp4_box(b"trak", &mdia);
        let moov = mp4_box(b"moov", &trak);
        let mut f = mp4_box(b"ftyp", b"M4A \0\0\0\0");
        f.extend(mp4_box(b"mdat", &[0u8; 64]));
        f.extend(moov);
        f
    }

    fn check(f: Vec<u8>) -> Result<(), String> {
        let len = f.len() as u64;
        check_sample_tables(&mut Cursor::new(f), len).unwrap()
    }

    #[test]
    fn honest_tables_pass_and_lying_counts_or_sizes_are_refused() {
        // stts: 2 entries of 8 bytes; stsz: 3 samples of 4 bytes each.
        let stts = [
            &[0u8, 0, 0, 0, 0, 0, 0, 2][..],
            &[0, 0, 0, 1, 0, 0, 4, 0],
            &[0, 0, 0, 2, 0, 0, 4, 0],
        ]
        .concat();
        let stsz = [
            &[0u8; 4][..],
            &[0; 4],
            &[0, 0, 0, 3],
            &[0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30],
        ]
        .concat();
        let good = [mp4_box(b"stts", &stts), mp4_box(b"stsz", &stsz)].concat();
        assert_eq!(check(file_with_stbl(&good)), Ok(()));

        // The fuzz finding's shape: 0xFFFFFFFF entries claimed in a tiny stts.
        let lying = mp4_box(
            b"stts",
            &[0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1],
        );
        let e = check(file_with_stbl(&lying)).unwrap_err();
        assert!(e.contains("stts box claims 4294967295 entries"), "{e}");

        // A constant sample size of 4 GiB.
        let huge = mp4_box(b"stsz", &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]);
        assert!(check(file_with_stbl(&huge))
            .unwrap_err()
            .contains("a sample of 4294967295 bytes"));

        // One listed sample larger than the file.
        let big = mp4_box(
            b"stsz",
            &[
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 8, 0x10, 0, 0, 0,
            ],
        );
        assert!(check(file_with_stbl(&big))
            .unwrap_err()
            .contains("a sample of 268435456 bytes"));

        // The same lie inside a `moov` that runs past the end of the file (the second fuzz finding).
        let mut cut = file_with_stbl(&mp4_box(b"stco", &[0, 0, 0, 0x66, 0x4c, 0x61, 0x43, 0x01]));
        let moov_at = cut.len() - (8 * 5 + 16);
        cut[moov_at..moov_at + 4].copy_from_slice(&10_000u32.to_be_bytes());
        let e = check(cut).unwrap_err();
        assert!(e.contains("stco box claims 1281442561 entries"), "{e}");

        // Not MP4: untouched.
        assert_eq!(check(b"OggS and more bytes".to_vec()), Ok(()));
    }
}
