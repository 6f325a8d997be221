//! `dfn4 enhance` as a new user meets it (issue 30): it never destroys a file, works in pipes, says
//! what happened and what it skipped, and tells which feature an option needs. One test per mistake
//! that was found, so none comes back.
mod common;

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use predicates::prelude::*;

use common::{dfn4, dir_names, random_model, read_wav, test_signal, write_wav, Fmt};

fn wav_file(dir: &Path, name: &str, rate_hz: u32, frames: usize) -> std::path::PathBuf {
    let path = dir.join(name);
    write_wav(&path, rate_hz, Fmt::I16, &[test_signal(rate_hz, frames, 0)]);
    path
}

#[test]
fn swapped_arguments_and_existing_outputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let orig = wav_file(dir.path(), "orig.wav", 16_000, 4000);
    let out = wav_file(dir.path(), "out.wav", 16_000, 1000);
    let before = fs::read(&orig).unwrap();
    // `dfn4 enhance out.wav orig.wav`: the recording survives.
    dfn4()
        .args(["enhance", "--model"])
        .arg(&model)
        .arg(&out)
        .arg(&orig)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("exists; pass --overwrite (-y)"))
        .stderr(predicate::str::contains("is the order right?"));
    assert_eq!(fs::read(&orig).unwrap(), before);
    // Asked to, it replaces the output.
    dfn4()
        .args(["enhance", "-y", "--model"])
        .arg(&model)
        .arg(&orig)
        .arg(&out)
        .assert()
        .success();
    assert_eq!(read_wav(&out).channels[0].len(), 4000);
    // In == out stays refused, --overwrite or not.
    dfn4()
        .args(["enhance", "-y", "--model"])
        .arg(&model)
        .arg(&orig)
        .arg(dir.path().join("./orig.wav"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is the input file"));
    assert_eq!(fs::read(&orig).unwrap(), before);
}

#[test]
fn directory_mode_refuses_existing_outputs_too() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let in_dir = dir.path().join("in");
    fs::create_dir(&in_dir).unwrap();
    wav_file(&in_dir, "a.wav", 16_000, 2000);
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    fs::write(out_dir.join("a.wav"), b"precious").unwrap();
    let run = |extra: &[&str]| {
        let mut c = dfn4();
        c.args(["enhance", "--model"])
            .arg(&model)
            .args(extra)
            .arg(&in_dir)
            .arg(&out_dir);
        c.assert()
    };
    run(&[])
        .code(1)
        .stderr(predicate::str::contains("1 output file exists already"));
    assert_eq!(fs::read(out_dir.join("a.wav")).unwrap(), b"precious");
    run(&["--overwrite"]).success();
    assert_eq!(read_wav(&out_dir.join("a.wav")).channels[0].len(), 2000);
}

#[test]
fn devices_fifos_and_dev_stdout_are_written_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let input = wav_file(dir.path(), "in.wav", 16_000, 3000);
    // /dev/stdout: the audio arrives on the pipe; the symlink is not replaced by a file.
    let out = dfn4()
        .args(["enhance", "--model"])
        .arg(&model)
        .arg(&input)
        .arg("/dev/stdout")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(&out.stdout[..4], b"RIFF");
    assert!(fs::symlink_metadata("/dev/stdout")
        .unwrap()
        .file_type()
        .is_symlink());
    // A FIFO stays a FIFO and carries the audio to its reader.
    let fifo = dir.path().join("fifo.wav");
    let made = StdCommand::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(fifo).unwrap())
    };
    dfn4()
        .args(["enhance", "--model"])
        .arg(&model)
        .arg(&input)
        .arg(&fifo)
        .assert()
        .success();
    let bytes = reader.join().unwrap();
    let decoded = dfn4::audio_io::decode_wav(&bytes).unwrap();
    assert_eq!(decoded.frames(), 3000);
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    // /dev/null takes it without a complaint.
    dfn4()
        .args(["enhance", "--model"])
        .arg(&model)
        .arg(&input)
        .arg("/dev/null")
        .assert()
        .success();
}

#[test]
fn an_interrupted_run_leaves_the_folder_clean() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    // Long enough (20 min at 8 kHz) to still be running when the signal comes.
    let input = wav_file(dir.path(), "long.wav", 8_000, 8_000 * 1200);
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    for signal in ["INT", "TERM"] {
        let mut child = StdCommand::cargo_bin("dfn4")
            .unwrap()
            .args(["enhance", "--model"])
            .arg(&model)
            .arg(&input)
            .arg(out_dir.join("out.wav"))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the hidden temp file: the output is being written.
        let start = Instant::now();
        while dir_names(&out_dir).is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no temp file appeared"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let killed = StdCommand::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(130), "SIG{signal}: {stderr}");
        assert!(
            stderr.contains("unfinished output file(s) removed"),
            "{stderr}"
        );
        assert_eq!(dir_names(&out_dir), Vec::<String>::new(), "SIG{signal}");
    }
}

/// A WAV file as ffmpeg writes it to a pipe: RIFF and data lengths 0xFFFFFFFF (or 0).
fn with_unknown_length(bytes: &[u8], unknown: u32) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let at = b.windows(4).position(|w| w == b"data").unwrap() + 4;
    b[at..at + 4].copy_from_slice(&unknown.to_le_bytes());
    b[4..8].copy_from_slice(&unknown.to_le_bytes());
    b
}

fn pipe_through(model: &Path, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = StdCommand::cargo_bin("dfn4")
        .unwrap()
        .args(["enhance", "--model"])
        .arg(model)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&bytes));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out
}

#[test]
fn dash_is_stdin_and_stdout_and_status_stays_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let input = wav_file(dir.path(), "in.wav", 16_000, 5000);
    let file_out = dir.path().join("file.wav");
    dfn4()
        .args(["enhance", "--model"])
        .arg(&model)
        .arg(&input)
        .arg(&file_out)
        .assert()
        .success()
        .stdout(predicate::str::is_empty());
    let expected = fs::read(&file_out).unwrap();
    let bytes = fs::read(&input).unwrap();
    // `cat in.wav | dfn4 enhance - - | ...`: the same bytes as the file output, exact lengths in the
    // header (the input's length is known).
    let out = pipe_through(&model, &["-", "-"], &bytes);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, expected);
    assert!(String::from_utf8_lossy(&out.stderr).contains("-: 0.31 s of audio processed"));
    // ffmpeg's pipe form (length unknown, 0xFFFFFFFF or 0) is read to its end.
    for unknown in [u32::MAX, 0] {
        let out = pipe_through(&model, &["-", "-"], &with_unknown_length(&bytes, unknown));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let decoded = dfn4::audio_io::decode_wav(&out.stdout).unwrap();
        assert_eq!(decoded.frames(), 5000);
        let reference = dfn4::audio_io::decode_wav(&expected).unwrap();
        assert_eq!(decoded.channels, reference.channels);
    }
    // `- out.wav` and `in.wav -` each way.
    let piped_in = dir.path().join("piped.wav");
    let out = pipe_through(&model, &["-", piped_in.to_str().unwrap()], &bytes);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(fs::read(&piped_in).unwrap(), expected);
    // No file named `-` is ever created.
    assert!(!dir.path().join("-").exists());
}

#[test]
fn several_inputs_go_into_a_folder_that_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let a = wav_file(dir.path(), "a.wav", 16_000, 1500);
    let b = wav_file(dir.path(), "b.wav", 8_000, 900);
    let out_dir = dir.path().join("cleaned");
    dfn4()
        .args(["enhance", "--model"])
        .arg(&model)
        .arg(&a)
        .arg(&b)
        .arg(&out_dir)
        .assert()
        .success()
        .stderr(predicate::str::contains("2 of 2 files enhanced"));
    assert_eq!(dir_names(&out_dir), ["a.wav", "b.wav"]);
    // One input into `newdir/`: the folder is created.
    let new_dir = dir.path().join("newdir");
    dfn4()
        .args(["enhance", "--model"])
        .arg(&model)
        .arg(&a)
        .arg(format!("{}/", new_dir.display()))
        .assert()
        .success();
    assert_eq!(read_wav(&new_dir.join("a.wav")).channels[0].len(), 1500);
}

#[test]
fn directory_mode_says_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let in_dir = dir.path().join("in");
    fs::create_dir(&in_dir).unwrap();
    wav_file(&in_dir, "a.wav", 16_000, 1000);
    fs::write(in_dir.join("c.xyz"), b"ID3").unwrap();
    fs::write(in_dir.join("notes.txt"), b"x").unwrap();
    dfn4()
        .args(["enhance", "--model"])
        .arg(&model)
        .arg(&in_dir)
        .arg(dir.path().join("out"))
        .assert()
        .success()
        .stderr(predicate::str::contains("skipped"))
        .stderr(predicate::str::contains(
            "c.xyz: not an audio file dfn4 reads",
        ))
        .stderr(predicate::str::contains(
            "notes.txt: not an audio file dfn4 reads",
        ))
        .stderr(predicate::str::contains("1 of 1 files enhanced into"))
        .stderr(predicate::str::contains("2 other entries skipped"));
}

#[test]
fn clipping_is_counted_and_soft_clip_avoids_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    // A float input beyond full scale; with no attenuation the output is the input, delayed away.
    let hot: Vec<f32> = (0..8000).map(|i| 1.5 * (i as f32 * 0.01).sin()).collect();
    let input = dir.path().join("hot.wav");
    write_wav(&input, 16_000, Fmt::F32, &[hot]);
    let run = |out: &str, extra: &[&str]| {
        let mut c = dfn4();
        c.args(["enhance", "--atten-lim-db", "0", "--model"])
            .arg(&model)
            .args(extra)
            .arg(&input)
            .arg(dir.path().join(out));
        c.assert().success().get_output().stderr.clone()
    };
    let stderr = String::from_utf8(run("i16.wav", &["--out-format", "i16"])).unwrap();
    // 1.5 is +3.5 dBFS; resampling to 48 kHz and back overshoots a little.
    assert!(
        stderr.contains("samples clipped at full scale; peak +3."),
        "{stderr}"
    );
    let stderr = String::from_utf8(run("f32.wav", &[])).unwrap();
    assert!(
        stderr.contains("beyond full scale, kept in the float output"),
        "{stderr}"
    );
    let stderr =
        String::from_utf8(run("soft.wav", &["--out-format", "i16", "--soft-clip"])).unwrap();
    assert!(!stderr.contains("warning"), "{stderr}");
    let soft = read_wav(&dir.path().join("soft.wav"));
    let peak = soft.channels[0].iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(peak > 0.95 && peak <= 1.0, "{peak}");
}

#[test]
fn float_output_has_the_plain_header_and_other_extensions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let input = wav_file(dir.path(), "in.wav", 16_000, 1000);
    let out = dir.path().join("f.wav");
    dfn4()
        .args(["enhance", "--out-format", "f32", "--model"])
        .arg(&model)
        .arg(&input)
        .arg(&out)
        .assert()
        .success();
    let b = fs::read(&out).unwrap();
    // WAVE_FORMAT_IEEE_FLOAT, an 18-byte fmt chunk (cbSize 0), then a fact chunk with the length.
    assert_eq!(&b[12..16], b"fmt ");
    assert_eq!(u32::from_le_bytes(b[16..20].try_into().unwrap()), 18);
    assert_eq!(u16::from_le_bytes(b[20..22].try_into().unwrap()), 3);
    assert_eq!(&b[38..42], b"fact");
    assert_eq!(u32::from_le_bytes(b[46..50].try_into().unwrap()), 1000);
    // FLAC is written too where the `formats` feature is in (tests/cli_formats.rs).
    let names: &[&str] = if cfg!(feature = "formats") {
        &["out.mp3", "out.ogg", "out.txt"]
    } else {
        &["out.mp3", "out.flac", "out.txt"]
    };
    for name in names {
        dfn4()
            .args(["enhance", "--model"])
            .arg(&model)
            .arg(&input)
            .arg(dir.path().join(name))
            .assert()
            .code(1)
            .stderr(predicate::str::contains("dfn4 writes WAV"))
            .stderr(predicate::str::contains("files only"));
        assert!(!dir.path().join(name).exists());
    }
}

#[test]
fn help_lists_every_backend_and_missing_features_are_named() {
    for cmd in ["enhance", "bench"] {
        let out = dfn4().args([cmd, "--help"]).output().unwrap();
        let help = String::from_utf8(out.stdout).unwrap();
        for b in dfn4::backend::registry::BACKENDS {
            assert!(help.contains(b.name), "{cmd} --help lacks {}", b.name);
        }
        // The registry's default for this machine, its rule, and (enhance) clap's default agree.
        let default = dfn4::backend::registry::default_backend();
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(default) && l.ends_with("[default here]")),
            "{help}"
        );
        assert!(
            help.contains(&dfn4::backend::registry::default_backend_rule()),
            "{help}"
        );
        if cmd == "enhance" {
            assert!(help.contains(&format!("[default: {default}]")), "{help}");
        }
    }
    #[cfg(not(feature = "live"))]
    dfn4()
        .args(["live", "--gui"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cargo feature \"live\""));
    #[cfg(all(feature = "live", not(feature = "gui")))]
    dfn4()
        .args(["live", "--gui"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cargo feature \"gui\""));
}
