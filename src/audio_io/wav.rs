//! WAV files: the sample formats dfn4 reads and writes, whole-file helpers, and the block reader and
//! writer ([`WavReader`] in `wav_read`, [`WavWriter`] in `wav_write`): strict validation on the way in
//! (truncation, empty files, odd encodings, NaN/Inf), an output that never destroys what a path held on
//! the way out.
use std::io::Read;
use std::path::Path;

#[cfg(test)]
use super::wav_format;
pub use super::wav_read::WavReader;
pub use super::wav_write::{remove_temp_files, Existing, WavWriter};
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

    /// Bytes per stored sample.
    pub fn bytes(self) -> usize {
        usize::from(self.bits() / 8)
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

/// Frames per block when a whole file is decoded at once.
const DECODE_BLOCK_FRAMES: usize = 1 << 16;

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

fn read_all<R: Read>(mut reader: WavReader<R>) -> Result<WavAudio> {
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
    if channels[0].is_empty() {
        return Err(empty_file());
    }
    Ok(WavAudio {
        sample_rate_hz: reader.sample_rate_hz(),
        format: reader.format(),
        channels,
        non_finite_replaced: reader.non_finite_replaced() as usize,
    })
}

/// The error for a file without samples (a header that says so, or a stream that ends before any).
pub(crate) fn empty_file() -> Error {
    Error::InvalidInput("the WAV file holds no audio samples (zero length)".into())
}

/// Writes `channels` (equal lengths, `f32` in [-1, 1]; integers are rounded and clipped) as a WAV file
/// at `path`, all or nothing, replacing a file that is there (see [`WavWriter`]).
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
    let mut writer = WavWriter::create(
        path,
        sample_rate_hz,
        format,
        channels.len(),
        Existing::Overwrite,
        Some(frames as u64),
    )?;
    writer.write_block(channels)?;
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

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

    /// A reader that can only read, a few bytes at a time, like a pipe.
    struct Pipe<'a>(&'a [u8]);

    impl Read for Pipe<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(7);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn wav_bytes(format: SampleFormat, chans: &[Vec<f32>]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        write_wav_atomic(&path, 16_000, format, chans).unwrap();
        fs::read(path).unwrap()
    }

    #[test]
    fn reads_streams_of_unknown_length_to_the_end() {
        let chans = vec![tone(1001, 0.0), tone(1001, 1.0)];
        for format in [SampleFormat::I16, SampleFormat::I24, SampleFormat::F32] {
            let bytes = wav_bytes(format, &chans);
            let known = decode_wav(&bytes).unwrap();
            let data_len_at = wav_format::data_chunk(&bytes).unwrap().0 - 4;
            for unknown in [0u32, u32::MAX] {
                let mut b = bytes.clone();
                b[data_len_at..data_len_at + 4].copy_from_slice(&unknown.to_le_bytes());
                b[4..8].copy_from_slice(&unknown.to_le_bytes());
                assert_eq!(decode_wav(&b).unwrap(), known, "{format:?} {unknown:#x}");
                // Through a pipe, with a partial frame at the end (dropped).
                b.push(7);
                let mut r = WavReader::from_reader(Pipe(&b), None).unwrap();
                assert!(!r.length_known());
                let mut block = vec![Vec::new(); 2];
                let mut frames = 0;
                while r.read_block(300, &mut block).unwrap() > 0 {
                    frames += block[0].len();
                }
                assert_eq!((frames, r.frames()), (1001, 1001));
            }
        }
        // A stream that ends before any sample is an empty file.
        let mut b = wav_bytes(SampleFormat::I16, &[vec![0.5]]);
        b.truncate(b.len() - 2);
        let at = wav_format::data_chunk(&b).unwrap().0 - 4;
        b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_wav(&b)
            .unwrap_err()
            .to_string()
            .contains("no audio samples"));
    }

    #[test]
    fn known_length_through_a_pipe_still_detects_truncation() {
        let bytes = wav_bytes(SampleFormat::I16, &[tone(500, 0.0)]);
        let cut = &bytes[..bytes.len() - 100];
        let mut r = WavReader::from_reader(Pipe(cut), None).unwrap();
        let mut block = vec![Vec::new()];
        let err = loop {
            match r.read_block(64, &mut block) {
                Ok(0) => panic!("read to the end of a truncated stream"),
                Ok(_) => {}
                Err(e) => break e.to_string(),
            }
        };
        assert!(
            err.contains("announces 500 samples but the data ends after 450"),
            "{err}"
        );
    }

    #[test]
    fn writes_the_header_forms_sox_writes() {
        let fmt_of = |format, nb_channels: usize| {
            let b = wav_bytes(format, &vec![vec![0.25; 10]; nb_channels]);
            let tag = u16::from_le_bytes([b[20], b[21]]);
            let fmt_len = u32::from_le_bytes([b[16], b[17], b[18], b[19]]);
            let has_fact = b.windows(4).any(|w| w == b"fact");
            (tag, fmt_len, has_fact)
        };
        assert_eq!(fmt_of(SampleFormat::I16, 1), (1, 16, false));
        assert_eq!(fmt_of(SampleFormat::I16, 2), (1, 16, false));
        assert_eq!(fmt_of(SampleFormat::F32, 1), (3, 18, true));
        assert_eq!(fmt_of(SampleFormat::F32, 2), (3, 18, true));
        assert_eq!(fmt_of(SampleFormat::I24, 1), (0xfffe, 40, false));
        assert_eq!(fmt_of(SampleFormat::I16, 3), (0xfffe, 40, false));
        assert_eq!(fmt_of(SampleFormat::F32, 3), (0xfffe, 40, true));
        // hound, a second reader, agrees with the lengths the writer patched in.
        let b = wav_bytes(SampleFormat::I24, &[tone(333, 0.0)]);
        assert_eq!(b.len() % 2, 0, "odd data is padded");
        let r = hound::WavReader::new(std::io::Cursor::new(&b)).unwrap();
        assert_eq!((r.len(), r.spec().bits_per_sample), (333, 24));
    }

    #[test]
    fn reads_24_bit_samples_in_32_bit_containers() {
        let bytes = wav_bytes(SampleFormat::I24, &[vec![0.5, -0.25, -1.0]]);
        let twenty_four = decode_wav(&bytes).unwrap();
        // The same samples as WAVE_FORMAT_EXTENSIBLE 24-in-32: block align 4, container bits 32.
        let (data_at, _) = wav_format::data_chunk(&bytes).unwrap();
        let mut b = bytes[..data_at].to_vec();
        b[32..34].copy_from_slice(&4u16.to_le_bytes()); // block align
        b[34..36].copy_from_slice(&32u16.to_le_bytes()); // container bits
        b[28..32].copy_from_slice(&(16_000u32 * 4).to_le_bytes());
        b[data_at - 4..data_at].copy_from_slice(&12u32.to_le_bytes());
        for s in bytes[data_at..data_at + 9].chunks(3) {
            b.extend_from_slice(s);
            b.push(if s[2] & 0x80 != 0 { 0xff } else { 0 });
        }
        assert_eq!(decode_wav(&b).unwrap().channels, twenty_four.channels);
    }

    #[test]
    fn refuses_an_existing_file_unless_told_and_keeps_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("orig.wav");
        fs::write(&target, b"precious").unwrap();
        let w = WavWriter::create(&target, 8000, SampleFormat::I16, 1, Existing::Refuse, None);
        assert!(w
            .err()
            .unwrap()
            .to_string()
            .contains("refusing to overwrite"));
        // A file that appears while the output is written is not replaced either.
        let late = dir.path().join("late.wav");
        let mut w =
            WavWriter::create(&late, 8000, SampleFormat::I16, 1, Existing::Refuse, None).unwrap();
        w.write_block(&[[0.5f32; 4]]).unwrap();
        fs::write(&late, b"precious").unwrap();
        assert!(w.finish().is_err());
        assert_eq!(fs::read(&late).unwrap(), b"precious");
        // Overwrite through a symlink replaces the target and keeps the link.
        let link = dir.path().join("link.wav");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_wav_atomic(&link, 8000, SampleFormat::I16, &[vec![0.5; 4]]).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(read_wav(&target).unwrap().frames(), 4);
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["late.wav", "link.wav", "orig.wav"]);
    }

    #[test]
    fn writes_devices_in_place_and_counts_samples_beyond_full_scale() {
        let mut w = WavWriter::create(
            Path::new("/dev/null"),
            8000,
            SampleFormat::I16,
            1,
            Existing::Refuse,
            Some(5),
        )
        .unwrap();
        w.write_block(&[[0.5, 1.5, -1.0, -1.25, f32::NAN]]).unwrap();
        assert_eq!(w.beyond_full_scale(), 2);
        w.finish().unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
    }

    #[test]
    fn remove_temp_files_stops_an_output_from_appearing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        let mut w =
            WavWriter::create(&path, 8000, SampleFormat::I16, 1, Existing::Refuse, None).unwrap();
        w.write_block(&[[0.5f32; 4]]).unwrap();
        // The registry is the process's, shared with tests running beside this one: only this
        // folder's temp files are removed here (remove_temp_files is this with every path).
        let removed =
            super::super::wav_write::remove_temp_files_where(|p| p.starts_with(dir.path()));
        assert_eq!(removed, 1);
        assert!(w.finish().is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
