//! `dfn4 enhance` on the files people have (feature `formats`): FLAC, Ogg Vorbis, MP3, AAC and ALAC in
//! M4A, read by content; lossless input equals its WAV, lossy input gives 16-bit output, damaged or cut
//! files are refused with their position and leave nothing behind. Fixtures: tests/data/formats (1.5 s
//! of assets/noisy_speech.wav, encoded by ffmpeg and sox).
#![cfg(feature = "formats")]
mod common;

use std::fs;
use std::path::{Path, PathBuf};

use predicates::prelude::*;

use common::{dfn4, dir_names, read_wav};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats")
        .join(name)
}

fn enhance(input: &Path, output: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    let mut c = dfn4();
    c.arg("enhance").args(extra).arg(input).arg(output);
    c.assert()
}

#[test]
fn every_format_is_enhanced_at_its_length_and_rate() {
    let dir = tempfile::tempdir().unwrap();
    // (file, channels, bits of the default output); 1.5 s at 48 kHz = 72,000 frames.
    for (name, channels, bits) in [
        ("speech.flac", 1, 16),
        ("speech24_stereo.flac", 2, 24),
        ("speech.mp3", 1, 16),
        ("speech.ogg", 1, 16),
        ("speech.m4a", 1, 16),
        ("speech_alac.m4a", 1, 16),
    ] {
        let out = dir.path().join(format!("{name}.wav"));
        enhance(&fixture(name), &out, &[]).success();
        let y = read_wav(&out);
        assert_eq!(y.spec.sample_rate, 48_000, "{name}");
        assert_eq!(usize::from(y.spec.channels), channels, "{name}");
        assert_eq!(y.spec.bits_per_sample, bits, "{name}");
        let frames = y.channels[0].len();
        // AAC keeps its encoder priming (MP4 edit lists are not applied): up to 2,048 frames more.
        assert!(
            (72_000..=72_000 + 2_048).contains(&frames),
            "{name}: {frames} frames"
        );
        assert!(
            y.channels[0].iter().any(|v| v.abs() > 1e-3),
            "{name} is silent"
        );
    }
}

#[test]
fn lossless_input_gives_the_same_output_as_its_wav() {
    let dir = tempfile::tempdir().unwrap();
    let (from_wav, from_flac) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    enhance(&fixture("speech.wav"), &from_wav, &["--out-format", "f32"]).success();
    enhance(
        &fixture("speech.flac"),
        &from_flac,
        &["--out-format", "f32"],
    )
    .success();
    assert_eq!(read_wav(&from_wav).channels, read_wav(&from_flac).channels);
}

#[test]
fn the_content_decides_not_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    // An MP3 named .wav, and a FLAC without an extension.
    let disguised = dir.path().join("really_mp3.wav");
    fs::copy(fixture("speech.mp3"), &disguised).unwrap();
    let bare = dir.path().join("flac_file");
    fs::copy(fixture("speech.flac"), &bare).unwrap();
    enhance(&disguised, &dir.path().join("o1.wav"), &[]).success();
    enhance(&bare, &dir.path().join("o2.wav"), &[]).success();
    assert_eq!(
        read_wav(&dir.path().join("o2.wav")).channels[0].len(),
        72_000
    );
}

/// `bytes` with `len` bytes from 60 % in scrambled (a damaged sector, a bad download).
fn damaged(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let at = b.len() * 3 / 5;
    for v in &mut b[at..at + len] {
        *v = v.wrapping_mul(7).wrapping_add(13);
    }
    b
}

#[test]
fn damaged_and_cut_files_are_refused_with_their_position() {
    let dir = tempfile::tempdir().unwrap();
    let flac = fs::read(fixture("speech.flac")).unwrap();
    let ogg = fs::read(fixture("speech.ogg")).unwrap();
    let mp3 = fs::read(fixture("speech.mp3")).unwrap();
    for (name, bytes) in [
        ("damaged.flac", damaged(&flac, 200)),
        ("damaged.ogg", damaged(&ogg, 200)),
        ("damaged.mp3", damaged(&mp3, 3000)),
        ("cut.flac", flac[..flac.len() / 2].to_vec()),
    ] {
        let input = dir.path().join(name);
        fs::write(&input, bytes).unwrap();
        let out_dir = dir.path().join(format!("out-{name}"));
        fs::create_dir(&out_dir).unwrap();
        let out = enhance(&input, &out_dir.join("o.wav"), &[])
            .code(1)
            .stderr(predicate::str::contains("corrupt").or(predicate::str::contains("truncated")))
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{name}");
        // The position in seconds, where the decoder found it (symphonia's Ogg reader checks every
        // page's CRC when it opens a file, before any audio is decoded: no position then).
        if !name.ends_with(".ogg") {
            let at = seconds_in(&stderr);
            assert!(at.is_some(), "{name}: {stderr}");
        }
        assert_eq!(dir_names(&out_dir), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn directory_mode_takes_compressed_files_and_names_them_wav() {
    let dir = tempfile::tempdir().unwrap();
    let in_dir = dir.path().join("in");
    fs::create_dir(&in_dir).unwrap();
    for n in ["speech.mp3", "speech_alac.m4a", "speech.ogg"] {
        fs::copy(fixture(n), in_dir.join(n)).unwrap();
    }
    fs::write(in_dir.join("notes.txt"), "x").unwrap();
    let out_dir = dir.path().join("out");
    // speech.mp3 and speech.ogg would both become speech.wav: refused before anything is written.
    enhance(&in_dir, &out_dir, &[])
        .code(1)
        .stderr(predicate::str::contains("would collide"));
    fs::remove_file(in_dir.join("speech.ogg")).unwrap();
    enhance(&in_dir, &out_dir, &[])
        .success()
        .stderr(predicate::str::contains("2 of 2 files enhanced"))
        .stderr(predicate::str::contains(
            "notes.txt: not an audio file dfn4 reads",
        ));
    assert_eq!(dir_names(&out_dir), ["speech.wav", "speech_alac.wav"]);
}

/// The first "N.NN s" in `text`.
fn seconds_in(text: &str) -> Option<f64> {
    text.split_whitespace()
        .zip(text.split_whitespace().skip(1))
        .find(|(_, unit)| *unit == "s" || unit.starts_with("s,"))
        .and_then(|(n, _)| n.parse().ok())
}

#[test]
fn a_flac_name_gives_a_flac_file_with_the_wav_output_s_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (wav, flac) = (dir.path().join("o.wav"), dir.path().join("o.flac"));
    enhance(&fixture("speech.wav"), &wav, &[]).success();
    enhance(&fixture("speech.wav"), &flac, &[]).success();
    let bytes = fs::read(&flac).unwrap();
    assert_eq!(&bytes[..4], b"fLaC");
    // Decoded by dfn4's own reader (symphonia): the same samples as the 16-bit WAV, and the length
    // STREAMINFO states.
    let mut reader = dfn4::audio_io::AudioReader::open(&flac).unwrap();
    let mut block = vec![Vec::new()];
    let mut samples = Vec::new();
    while reader.read_block(10_000, &mut block).unwrap() > 0 {
        samples.extend_from_slice(&block[0]);
    }
    assert_eq!(samples, read_wav(&wav).channels[0]);
    // Float is not a FLAC format: refused before anything is written.
    enhance(
        &fixture("speech.wav"),
        &dir.path().join("f.flac"),
        &["--out-format", "f32"],
    )
    .code(1)
    .stderr(predicate::str::contains(
        "FLAC holds 16- or 24-bit integers",
    ));
    assert!(!dir.path().join("f.flac").exists());
}
