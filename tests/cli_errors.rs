//! `dfn4 enhance` on bad input: every failure is one `error: ...` line on stderr with exit status 1,
//! never a panic, and never leaves an output file (or a temp file) behind.
mod common;

use std::path::{Path, PathBuf};

use common::{dfn4, dir_names, random_model, read_wav, test_signal, write_wav, Fmt};
use predicates::prelude::*;

/// A temp dir holding a random model and a valid 16 kHz mono input, `in.wav`.
struct Setup {
    dir: tempfile::TempDir,
    model: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let model = random_model(dir.path());
        write_wav(
            &dir.path().join("in.wav"),
            16_000,
            Fmt::I16,
            &[test_signal(16_000, 4000, 0)],
        );
        Self { dir, model }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `dfn4 enhance INPUT out.wav --model M extra...`, expects exit 1 with exactly one stderr line
    /// `error: ...` containing `needle`, and checks that no output or temp file appeared.
    fn fails(&self, input: &Path, extra: &[&str], needle: &str) {
        self.fails_with_model(input, &self.model, extra, needle);
    }

    /// As [`Setup::fails`] with another model file.
    fn fails_with_model(&self, input: &Path, model: &Path, extra: &[&str], needle: &str) {
        let before = dir_names(self.dir.path());
        let out = dfn4()
            .arg("enhance")
            .arg(input)
            .arg(self.path("out.wav"))
            .arg("--model")
            .arg(model)
            .args(extra)
            .assert()
            .code(1)
            .stdout(predicate::str::is_empty())
            .get_output()
            .clone();
        expect_one_error_line(&out.stderr, needle);
        assert_eq!(dir_names(self.dir.path()), before, "files changed");
    }
}

fn expect_one_error_line(stderr: &[u8], needle: &str) {
    let stderr = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr is not one line: {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    assert!(lines[0].contains(needle), "{stderr:?} lacks {needle:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
}

/// A minimal WAV header with the given format tag and bit depth, followed by `data_len` bytes of zeros.
fn raw_wav(format_tag: u16, bits: u16, data_len: u32) -> Vec<u8> {
    wav_bytes(format_tag, 1, 16_000, bits, data_len)
}

/// A WAV of `data_len` zero bytes with this fmt chunk (byte rate and block align as a writer would
/// compute them from the others, wrapping where the claim overflows the field).
fn wav_bytes(format_tag: u16, channels: u16, rate_hz: u32, bits: u16, data_len: u32) -> Vec<u8> {
    let block_align = channels.wrapping_mul(bits.div_ceil(8).max(1));
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&format_tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate_hz.to_le_bytes());
    v.extend_from_slice(&rate_hz.wrapping_mul(u32::from(block_align)).to_le_bytes());
    v.extend_from_slice(&block_align.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    v.extend(std::iter::repeat_n(0u8, data_len as usize));
    v
}

#[test]
fn missing_input_file() {
    let s = Setup::new();
    s.fails(&s.path("nope.wav"), &[], "cannot read input");
    s.fails(&s.path("nope.wav"), &[], "No such file or directory");
}

#[test]
fn not_a_wav_file() {
    let s = Setup::new();
    std::fs::write(s.path("text.wav"), "hello, this is not audio").unwrap();
    s.fails(&s.path("text.wav"), &[], "not a WAV file");
}

#[test]
fn truncated_wav_file() {
    let s = Setup::new();
    let bytes = std::fs::read(s.path("in.wav")).unwrap();
    std::fs::write(s.path("cut.wav"), &bytes[..bytes.len() / 2]).unwrap();
    s.fails(
        &s.path("cut.wav"),
        &[],
        "truncated WAV file: the header announces 4000 samples",
    );
}

#[test]
fn wav_header_announcing_far_more_than_the_file_holds() {
    // 2 GiB of samples announced by a 100-byte file: refused from the header, before any buffer is
    // sized from it.
    let s = Setup::new();
    let mut bytes = raw_wav(1, 16, 56);
    bytes[40..44].copy_from_slice(&0x7fff_fffeu32.to_le_bytes());
    assert_eq!(bytes.len(), 100);
    std::fs::write(s.path("liar.wav"), &bytes).unwrap();
    s.fails(
        &s.path("liar.wav"),
        &[],
        "truncated WAV file: the header announces 1073741823 samples but the data ends after 28",
    );
}

/// A 16-bit PCM WAV of `frames` silent frames that claims `rate_hz` and `channels`.
fn pcm16_wav(rate_hz: u32, channels: u16, frames: u32) -> Vec<u8> {
    wav_bytes(1, channels, rate_hz, 16, frames * u32::from(channels) * 2)
}

#[test]
fn rates_and_channel_counts_outside_the_supported_range_are_refused_at_once() {
    // Each of these once made `enhance` allocate gigabytes (16 GiB and SIGABRT for the first, 3.9 GB
    // for 10 frames at 1 Hz, 10.4 GB and 31 s for 32,767 channels); now the header is refused before
    // anything is sized from it.
    let s = Setup::new();
    for (name, rate_hz, channels, frames, needle) in [
        (
            "huge_rate.wav",
            2_147_483_647,
            1,
            10,
            "unsupported format: sample rate 2147483647 Hz is outside the supported 1000–768000 Hz",
        ),
        ("one_hz.wav", 1, 1, 10, "sample rate 1 Hz is outside"),
        ("rate_999.wav", 999, 2, 10, "sample rate 999 Hz is outside"),
        (
            "rate_768001.wav",
            768_001,
            1,
            10,
            "sample rate 768001 Hz is outside",
        ),
        (
            "many_channels.wav",
            48_000,
            32_767,
            4,
            "unsupported format: 32767 channels is outside the supported 1–256",
        ),
        (
            "257_channels.wav",
            48_000,
            257,
            4,
            "257 channels is outside",
        ),
    ] {
        let path = s.path(name);
        std::fs::write(&path, pcm16_wav(rate_hz, channels, frames)).unwrap();
        let start = std::time::Instant::now();
        s.fails(&path, &[], needle);
        let elapsed = start.elapsed();
        assert!(elapsed.as_secs_f64() < 10.0, "{name}: {elapsed:?}");
    }
}

#[test]
fn the_ends_of_the_supported_range_are_enhanced() {
    let s = Setup::new();
    for (rate_hz, channels, frames) in [
        (1_000u32, 1u16, 50u32),
        (768_000, 1, 2_000),
        (48_000, 256, 20),
    ] {
        let path = s.path("edge.wav");
        std::fs::write(&path, pcm16_wav(rate_hz, channels, frames)).unwrap();
        dfn4()
            .arg("enhance")
            .arg(&path)
            .arg(s.path("edge_out.wav"))
            .arg("--model")
            .arg(&s.model)
            .arg("--overwrite")
            .assert()
            .success();
        let out = read_wav(&s.path("edge_out.wav"));
        assert_eq!(
            (out.spec.sample_rate, out.spec.channels),
            (rate_hz, channels)
        );
        assert_eq!(out.channels[0].len(), frames as usize);
    }
}

#[test]
fn weights_with_an_absurd_shape_or_config() {
    let s = Setup::new();
    let bad = s.path("absurd.safetensors");
    std::fs::write(&bad, absurd_safetensors()).unwrap();
    s.fails_with_model(&s.path("in.wav"), &bad, &[], "not a valid safetensors file");
    // The config beside a model is read first; absurd sizes are refused before anything is derived.
    let model = s.path("model.json");
    std::fs::write(
        &model,
        r#"{"model": {"nb_erb": 32, "nb_df": 96, "df_order": 5,
        "df_lookahead": 1, "conv_ch": 32, "d_model": 1099511627776, "n_layers": 4, "d_state": 16,
        "d_conv": 4, "expand": 2, "dt_rank": 16, "df_hidden": 256, "norm_eps": 1e-5}}"#,
    )
    .unwrap();
    s.fails(
        &s.path("in.wav"),
        &[],
        "d_model = 1099511627776 is above the limit of 8192",
    );
}

/// A safetensors file whose header declares a [2^40, 2^40] tensor over 4 bytes of data.
fn absurd_safetensors() -> Vec<u8> {
    let header = br#"{"enc.fuse.bias":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0; 4]);
    bytes
}

#[test]
fn zero_length_audio() {
    let s = Setup::new();
    write_wav(&s.path("empty.wav"), 16_000, Fmt::I16, &[vec![]]);
    s.fails(&s.path("empty.wav"), &[], "no audio samples (zero length)");
}

#[test]
fn unsupported_sample_formats() {
    let s = Setup::new();
    let cases = [
        (
            "u8.wav",
            raw_wav(1, 8, 100),
            "unsupported sample format: 8-bit integer",
        ),
        (
            "f64.wav",
            raw_wav(3, 64, 800),
            "unsupported sample format: 64-bit float",
        ),
        (
            "adpcm.wav",
            raw_wav(2, 4, 100),
            "format tag 0x0002 is compressed",
        ),
        (
            "alaw.wav",
            raw_wav(6, 8, 100),
            "format tag 0x0006 is compressed",
        ),
    ];
    for (name, bytes, needle) in cases {
        std::fs::write(s.path(name), bytes).unwrap();
        s.fails(&s.path(name), &[], needle);
    }
}

#[test]
fn nan_and_inf_samples_are_zeroed_with_one_warning() {
    let s = Setup::new();
    let mut x = test_signal(16_000, 4000, 0);
    x[10] = f32::NAN;
    x[20] = f32::INFINITY;
    x[30] = f32::NEG_INFINITY;
    write_wav(&s.path("nan.wav"), 16_000, Fmt::F32, &[x]);
    let out = dfn4()
        .arg("enhance")
        .arg(s.path("nan.wav"))
        .arg(s.path("out.wav"))
        .arg("--model")
        .arg(&s.model)
        .assert()
        .success()
        .get_output()
        .clone();
    // One warning line, then the summary (both on stderr; stdout stays free for audio).
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 2, "{stderr:?}");
    assert!(stderr.starts_with("warning: "), "{stderr:?}");
    assert!(
        stderr.contains("replaced 3 NaN/Inf samples with 0"),
        "{stderr:?}"
    );
    let decoded = read_wav(&s.path("out.wav"));
    assert_eq!(decoded.channels[0].len(), 4000);
    assert!(decoded.channels[0].iter().all(|v| v.is_finite()));
}

#[test]
fn float_samples_far_beyond_full_scale_are_refused() {
    // Finite but not audio: 1e38 would overflow the STFT's powers and come out as NaN.
    let s = Setup::new();
    let mut x = test_signal(16_000, 4000, 0);
    x[1234] = 1e38;
    write_wav(&s.path("huge.wav"), 16_000, Fmt::F32, &[x]);
    s.fails(&s.path("huge.wav"), &[], "sample 1234 is 1e38: not audio");
}

#[test]
fn output_path_equal_to_input_is_refused() {
    let s = Setup::new();
    let original = std::fs::read(s.path("in.wav")).unwrap();
    for output in [s.path("in.wav"), s.dir.path().join(".").join("in.wav")] {
        let out = dfn4()
            .arg("enhance")
            .arg(s.path("in.wav"))
            .arg(&output)
            .arg("--model")
            .arg(&s.model)
            .assert()
            .code(1)
            .get_output()
            .clone();
        expect_one_error_line(&out.stderr, "is the input file; refusing to overwrite it");
    }
    // The input's directory as output would also mean the input itself.
    let out = dfn4()
        .arg("enhance")
        .arg(s.path("in.wav"))
        .arg(s.dir.path())
        .arg("--model")
        .arg(&s.model)
        .assert()
        .code(1)
        .get_output()
        .clone();
    expect_one_error_line(&out.stderr, "is the input file");
    assert_eq!(std::fs::read(s.path("in.wav")).unwrap(), original);
}

#[test]
fn input_directory_as_output_directory_is_refused() {
    let s = Setup::new();
    let out = dfn4()
        .arg("enhance")
        .arg(s.dir.path())
        .arg(s.dir.path())
        .arg("--model")
        .arg(&s.model)
        .assert()
        .code(1)
        .get_output()
        .clone();
    expect_one_error_line(&out.stderr, "is the input directory; refusing");
}

#[test]
fn missing_weights_file() {
    let s = Setup::new();
    let missing = s.path("absent.safetensors");
    s.fails_with_model(&s.path("in.wav"), &missing, &[], "cannot load model");
    s.fails_with_model(&s.path("in.wav"), &missing, &[], "absent.safetensors");
}

#[test]
fn mismatched_weights_name_the_weight() {
    let s = Setup::new();
    let weights = dfn4::model::Weights::random(&dfn4::config::ModelConfig::default(), 1);
    // Rebuild the file with one tensor of the wrong shape.
    let bufs: Vec<(String, Vec<u8>, Vec<usize>)> = weights
        .tensors()
        .iter()
        .map(|(name, t)| {
            let (shape, data) = if name == "enc.fuse.bias" {
                (vec![255], &t.data[..255])
            } else {
                (t.shape.clone(), &t.data[..])
            };
            let bytes = data.iter().flat_map(|x| x.to_le_bytes()).collect();
            (name.clone(), bytes, shape)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bufs
        .iter()
        .map(|(n, b, sh)| {
            let v = safetensors::tensor::TensorView::new(
                safetensors::tensor::Dtype::F32,
                sh.clone(),
                b,
            )
            .unwrap();
            (n.clone(), v)
        })
        .collect();
    let bad = s.path("bad.safetensors");
    std::fs::write(&bad, safetensors::serialize(views, None).unwrap()).unwrap();
    s.fails_with_model(
        &s.path("in.wav"),
        &bad,
        &[],
        "shape of enc.fuse.bias is [255], expected [256]",
    );
    // A file that is not safetensors at all.
    std::fs::write(s.path("junk.safetensors"), "junk").unwrap();
    let junk = s.path("junk.safetensors");
    s.fails_with_model(
        &s.path("in.wav"),
        &junk,
        &[],
        "not a valid safetensors file",
    );
}

#[test]
fn unknown_backend_lists_the_available_ones() {
    let s = Setup::new();
    s.fails(
        &s.path("in.wav"),
        &["--backend", "cuda"],
        // The list goes on with the tch backends in a build with feature `tch`.
        "unknown backend \"cuda\" (available: native",
    );
}

#[test]
fn negative_attenuation_limit_is_refused() {
    let s = Setup::new();
    s.fails(
        &s.path("in.wav"),
        &["--atten-lim-db", "-6"],
        "the attenuation limit must be a number of dB >= 0 (got -6)",
    );
}

#[test]
fn without_model_a_build_without_embedded_weights_asks_for_one() {
    let s = Setup::new();
    let cmd = || {
        let mut c = dfn4();
        c.arg("enhance")
            .arg(s.path("in.wav"))
            .arg(s.path("out.wav"));
        c
    };
    if dfn4::model::embedded::available() {
        cmd().assert().success();
    } else {
        let out = cmd().assert().code(1).get_output().clone();
        expect_one_error_line(&out.stderr, "no trained weights embedded");
        expect_one_error_line(&out.stderr, "pass --model PATH");
        assert!(!s.path("out.wav").exists());
    }
}

#[test]
fn missing_output_directory() {
    let s = Setup::new();
    let out = dfn4()
        .arg("enhance")
        .arg(s.path("in.wav"))
        .arg(s.path("no/such/dir/out.wav"))
        .arg("--model")
        .arg(&s.model)
        .assert()
        .code(1)
        .get_output()
        .clone();
    expect_one_error_line(&out.stderr, "cannot write output");
}
