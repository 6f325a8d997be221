//! `dfn4 enhance` end to end on generated files: output rate, channels, format and length follow the
//! input (or `--out-format`), the output is sample-aligned with the input (checked with
//! `--atten-lim-db 0`, which passes the noisy signal through unattenuated), and directory mode.
mod common;

use common::{dfn4, dir_names, random_model, read_wav, test_signal, tones, write_wav, Fmt};
use predicates::prelude::*;

/// Runs `dfn4 enhance IN OUT --model M extra...` and expects success.
fn enhance(
    input: &std::path::Path,
    output: &std::path::Path,
    model: &std::path::Path,
    extra: &[&str],
) {
    dfn4()
        .arg("enhance")
        .arg(input)
        .arg(output)
        .arg("--model")
        .arg(model)
        .args(extra)
        .assert()
        .success()
        // Status goes to stderr, so stdout can carry audio (`-`).
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(output.to_string_lossy().as_ref()))
        .stderr(predicate::str::contains("RTF"));
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// Checks format, channels, rate and length of `out` against the input, and that it is finite.
fn check_shape(out: &common::Decoded, rate_hz: u32, channels: usize, frames: usize, fmt: Fmt) {
    assert_eq!(out.spec.sample_rate, rate_hz);
    assert_eq!(usize::from(out.spec.channels), channels);
    let want = fmt.spec(channels as u16, rate_hz);
    assert_eq!(out.spec.bits_per_sample, want.bits_per_sample);
    assert_eq!(out.spec.sample_format, want.sample_format);
    for ch in &out.channels {
        assert_eq!(ch.len(), frames);
        assert!(ch.iter().all(|x| x.is_finite()));
    }
}

#[test]
fn formats_rates_and_channels_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    // (rate, channels, format, frames): the brief's cases plus 32-bit integer and an odd length.
    for (rate_hz, nb_channels, fmt, frames) in [
        (44_100, 2, Fmt::I16, 44_100),
        (16_000, 1, Fmt::F32, 16_000 + 7),
        (48_000, 1, Fmt::I24, 48_000 + 123),
        (22_050, 3, Fmt::I32, 11_025),
    ] {
        let chans: Vec<Vec<f32>> = (0..nb_channels)
            .map(|c| test_signal(rate_hz, frames, c))
            .collect();
        let input = dir.path().join(format!("in-{rate_hz}-{nb_channels}.wav"));
        let output = dir.path().join(format!("out-{rate_hz}-{nb_channels}.wav"));
        write_wav(&input, rate_hz, fmt, &chans);
        enhance(&input, &output, &model, &[]);
        check_shape(&read_wav(&output), rate_hz, nb_channels, frames, fmt);
    }
}

#[test]
fn out_format_overrides_the_input_format() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let input = dir.path().join("in.wav");
    write_wav(&input, 16_000, Fmt::F32, &[test_signal(16_000, 8000, 0)]);
    for (flag, fmt) in [("i16", Fmt::I16), ("f32", Fmt::F32), ("i24", Fmt::I24)] {
        let output = dir.path().join(format!("out-{flag}.wav"));
        enhance(&input, &output, &model, &["--out-format", flag]);
        check_shape(&read_wav(&output), 16_000, 1, 8000, fmt);
    }
}

/// Largest |a − b| and RMS of a − b over the interior (the resampler's block filter sees zero padding
/// at the edges).
fn interior_errors(a: &[f32], b: &[f32], edge: usize) -> (f32, f32) {
    let (a, b) = (&a[edge..a.len() - edge], &b[edge..b.len() - edge]);
    let diff: Vec<f32> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    (diff.iter().fold(0.0f32, |m, d| m.max(d.abs())), rms(&diff))
}

/// The integer lag in `-max..=max` that best aligns `y` with `x` (largest cross-correlation).
fn best_lag(x: &[f32], y: &[f32], max: isize) -> isize {
    let corr = |lag: isize| -> f64 {
        (0..x.len() as isize)
            .filter(|&i| i + lag >= 0 && ((i + lag) as usize) < y.len())
            .map(|i| f64::from(x[i as usize]) * f64::from(y[(i + lag) as usize]))
            .sum()
    };
    (-max..=max)
        .max_by(|&a, &b| corr(a).total_cmp(&corr(b)))
        .unwrap()
}

#[test]
fn zero_db_attenuation_limit_gives_the_input_back_sample_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    // At 48 kHz no resampling happens: only the denoiser's delay compensation is at stake, and the
    // STFT round trip is exact up to float rounding. Other rates add the two resampling steps; the
    // tones lie far below every Nyquist frequency, so those only add rounding too.
    for (rate_hz, nb_channels, fmt, max_err) in [
        (48_000, 1, Fmt::F32, 1e-5),
        (44_100, 2, Fmt::I16, 1e-4),
        (16_000, 1, Fmt::F32, 1e-4),
        (22_050, 2, Fmt::I24, 1e-4),
    ] {
        let frames = rate_hz as usize * 3 / 2;
        let chans: Vec<Vec<f32>> = (0..nb_channels)
            .map(|c| tones(rate_hz, frames, c))
            .collect();
        let input = dir.path().join(format!("in-{rate_hz}.wav"));
        let output = dir.path().join(format!("out-{rate_hz}.wav"));
        write_wav(&input, rate_hz, fmt, &chans);
        enhance(
            &input,
            &output,
            &model,
            &["--atten-lim-db", "0", "--out-format", "f32"],
        );
        let out = read_wav(&output);
        check_shape(&out, rate_hz, nb_channels, frames, Fmt::F32);
        // Compare with what was actually stored (integer inputs are quantised).
        let stored = read_wav(&input);
        for (c, (x, y)) in stored.channels.iter().zip(&out.channels).enumerate() {
            let edge = rate_hz as usize / 50;
            let (max, rms_err) = interior_errors(x, y, edge);
            eprintln!("{rate_hz} Hz ch {c}: max error {max:.2e}, rms error {rms_err:.2e}");
            // A shift of one sample would leave an RMS error near 0.02 for this signal.
            assert!(
                max < max_err && rms_err < max_err / 4.0,
                "{rate_hz} Hz ch {c}: max error {max}, rms error {rms_err}"
            );
            assert_eq!(best_lag(x, y, 8), 0, "{rate_hz} Hz ch {c}");
        }
    }
}

#[test]
fn an_existing_output_directory_receives_the_input_name() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let input = dir.path().join("voice.wav");
    write_wav(&input, 16_000, Fmt::I16, &[test_signal(16_000, 4000, 0)]);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    enhance(&input, &out_dir, &model, &[]);
    check_shape(
        &read_wav(&out_dir.join("voice.wav")),
        16_000,
        1,
        4000,
        Fmt::I16,
    );
}

#[test]
fn long_file_runs_with_hidden_progress_bar_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let input = dir.path().join("long.wav");
    let output = dir.path().join("long-out.wav");
    let frames = 8_000 * 11; // 11 s: above the 10 s progress threshold
    write_wav(&input, 8_000, Fmt::I16, &[test_signal(8_000, frames, 0)]);
    dfn4()
        .arg("enhance")
        .arg(&input)
        .arg(&output)
        .arg("--model")
        .arg(&model)
        .assert()
        .success()
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("11.00 s of audio"))
        // No progress bar drawn into a file: the summary is the only line.
        .stderr(predicate::function(|s: &str| s.lines().count() == 1));
    check_shape(&read_wav(&output), 8_000, 1, frames, Fmt::I16);
}

#[test]
fn directory_mode_enhances_every_wav_and_reports_failures() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let in_dir = dir.path().join("in");
    std::fs::create_dir(&in_dir).unwrap();
    write_wav(
        &in_dir.join("a.wav"),
        16_000,
        Fmt::I16,
        &[test_signal(16_000, 5000, 0)],
    );
    write_wav(
        &in_dir.join("b.WAV"),
        44_100,
        Fmt::F32,
        &[test_signal(44_100, 9000, 0), test_signal(44_100, 9000, 1)],
    );
    std::fs::write(in_dir.join("notes.txt"), "not audio").unwrap();

    // All good: every WAV enhanced, the text file ignored, OUTDIR created.
    let out_dir = dir.path().join("out/nested");
    dfn4()
        .arg("enhance")
        .arg(&in_dir)
        .arg(&out_dir)
        .arg("--model")
        .arg(&model)
        .assert()
        .success()
        .stderr(predicate::str::contains("2 of 2 files enhanced"));
    assert_eq!(dir_names(&out_dir), vec!["a.wav", "b.WAV"]);
    check_shape(&read_wav(&out_dir.join("a.wav")), 16_000, 1, 5000, Fmt::I16);
    check_shape(&read_wav(&out_dir.join("b.WAV")), 44_100, 2, 9000, Fmt::F32);

    // One broken file: the others are still written, the broken one is named, the status is 1.
    std::fs::write(in_dir.join("c.wav"), "RIFF junk").unwrap();
    let out_dir = dir.path().join("out2");
    dfn4()
        .arg("enhance")
        .arg(&in_dir)
        .arg(&out_dir)
        .arg("--model")
        .arg(&model)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "c.wav: unreadable input: wav error: not a WAV file",
        ))
        .stderr(predicate::str::ends_with("error: 1 of 3 files failed\n"));
    assert_eq!(dir_names(&out_dir), vec!["a.wav", "b.WAV"]);
}

#[test]
fn model_config_is_read_from_the_json_beside_the_weights() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dfn4::config::ModelConfig {
        d_model: 64,
        n_layers: 2,
        df_hidden: 64,
        ..Default::default()
    };
    let model = dir.path().join("small.safetensors");
    let bytes = dfn4::model::Weights::random(&cfg, 3)
        .to_safetensors_bytes()
        .unwrap();
    std::fs::write(&model, bytes).unwrap();
    let input = dir.path().join("in.wav");
    write_wav(&input, 16_000, Fmt::I16, &[test_signal(16_000, 4000, 0)]);

    // Without its JSON the default config does not fit these weights, and the error names a weight.
    dfn4()
        .arg("enhance")
        .arg(&input)
        .arg(dir.path().join("out.wav"))
        .arg("--model")
        .arg(&model)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("shape of "));

    std::fs::write(
        dir.path().join("small.json"),
        serde_json::to_string(&cfg).unwrap(),
    )
    .unwrap();
    let output = dir.path().join("out.wav");
    enhance(&input, &output, &model, &[]);
    check_shape(&read_wav(&output), 16_000, 1, 4000, Fmt::I16);
}
