//! `dfn4 bench` end to end with a random-weights model file: the JSON report's structure and the
//! invariants between its numbers (order of the statistics, RTF and throughput against the median and the
//! audio duration), the Markdown and SVG outputs, and the one-line errors for unusable backends. No
//! assertion depends on how fast this machine is.
mod common;

use std::path::{Path, PathBuf};

use common::dfn4;
use dfn4::config::ModelConfig;
use dfn4::model::Weights;
use predicates::prelude::*;
use serde_json::Value;

const HOP_S: f64 = 0.01;

fn write_model(dir: &Path) -> PathBuf {
    let path = dir.join("random.safetensors");
    let bytes = Weights::random(&ModelConfig::default(), 1)
        .to_safetensors_bytes()
        .expect("random weights serialise");
    std::fs::write(&path, bytes).expect("write model");
    path
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

/// Every statistic finite, positive (the spread non-negative) and ordered; returns the median in ms.
fn check_stats(s: &Value, samples: u64) -> f64 {
    assert_eq!(s["samples"].as_u64(), Some(samples), "{s}");
    for key in ["median", "mean", "min", "max", "p95", "p99"] {
        let x = num(s, key);
        assert!(x.is_finite() && x > 0.0, "{key} = {x}");
    }
    let std = num(s, "std");
    assert!(std.is_finite() && std >= 0.0);
    let (min, max) = (num(s, "min"), num(s, "max"));
    for key in ["median", "mean", "p95", "p99"] {
        assert!(
            min <= num(s, key) && num(s, key) <= max,
            "{key} outside [min, max] in {s}"
        );
    }
    assert!(num(s, "median") <= num(s, "p95") && num(s, "p95") <= num(s, "p99"));
    num(s, "median")
}

/// RTF and throughput agree with the median and the audio duration.
fn check_rates(r: &Value, median_ms: f64, audio_s: f64) {
    let median_s = median_ms / 1e3;
    assert!(close(num(r, "rtf"), median_s / audio_s), "{r}");
    assert!(close(
        num(r, "throughput_audio_s_per_s"),
        audio_s / median_s
    ));
    assert!(close(
        num(r, "throughput_samples_per_s"),
        audio_s * 48_000.0 / median_s
    ));
    assert!(close(
        num(r, "rtf") * num(r, "throughput_audio_s_per_s"),
        1.0
    ));
}

fn check_memory(m: &Value) {
    if m.is_null() {
        return; // no /proc on this platform
    }
    let (before, after, peak, delta) = (
        m["rss_before_kib"].as_u64().unwrap(),
        m["rss_after_kib"].as_u64().unwrap(),
        m["peak_rss_kib"].as_u64().unwrap(),
        m["peak_delta_kib"].as_u64().unwrap(),
    );
    assert!(before > 0 && after > 0);
    assert!(
        peak >= after,
        "the peak is at least the RSS it was read with"
    );
    assert_eq!(delta, peak.saturating_sub(before));
}

#[test]
fn json_report_is_complete_and_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let json_path = dir.path().join("X.json");
    dfn4()
        // One backend whatever the build's features (with `tch` the default list has more).
        .args([
            "bench",
            "--backends",
            "native",
            "--batch-sizes",
            "1",
            "2",
            "--seq-length",
            "10",
        ])
        .args(["--num-warmup", "1", "--num-runs", "3", "--output"])
        .arg(&json_path)
        .arg("--model")
        .arg(&model)
        .assert()
        .success()
        .stdout(predicate::str::contains("Offline latency"))
        .stdout(predicate::str::contains("Real-time factor"))
        .stdout(predicate::str::contains("streaming step"))
        // Which backend is the default here, and why (the registry's sentence).
        .stderr(predicate::str::contains(
            dfn4::backend::registry::default_backend_rule(),
        ));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();

    let env = &report["environment"];
    for key in [
        "dfn4_version",
        "cpu_model",
        "os",
        "arch",
        "rustc",
        "profile",
        "git_revision",
    ] {
        assert!(
            !env[key].as_str().unwrap_or("").is_empty(),
            "environment.{key}"
        );
    }
    assert_eq!(env["dfn4_version"], env!("CARGO_PKG_VERSION"));
    assert!(env["logical_cores"].as_u64().unwrap() >= 1);
    assert!(env["features"].is_array());

    let settings = &report["settings"];
    assert_eq!(settings["batch_sizes"], serde_json::json!([1, 2]));
    assert_eq!(settings["seq_length_frames"], 10);
    assert_eq!(settings["num_warmup"], 1);
    assert_eq!(settings["num_runs"], 3);
    assert!(settings["threads"].as_u64().unwrap() >= 1);
    assert_eq!(settings["train_step"], false);

    assert_eq!(report["model"]["source"], "file");
    assert_eq!(report["model"]["path"], model.display().to_string());
    assert!(report["model"]["parameters"].as_u64().unwrap() > 0);
    assert_eq!(report["baseline"], "native");

    let backends = report["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 1);
    let native = &backends[0];
    assert_eq!(native["name"], "native");
    assert!(native["train_step"].is_null());
    let offline = native["offline"].as_array().unwrap();
    assert_eq!(offline.len(), 2);
    for (r, batch) in offline.iter().zip([1u64, 2]) {
        assert_eq!(r["batch"].as_u64(), Some(batch));
        assert_eq!(r["frames"], 10);
        let audio_s = batch as f64 * 10.0 * HOP_S;
        assert!(close(num(r, "audio_s"), audio_s));
        let median_ms = check_stats(&r["latency_ms"], 3);
        check_rates(r, median_ms, audio_s);
        // The baseline against itself.
        assert_eq!(num(r, "speedup_vs_baseline"), 1.0);
        check_memory(&r["memory"]);
    }
    for mode in ["streaming", "pipeline"] {
        let r = &native[mode];
        assert_eq!(r["batch"], 1);
        assert_eq!(r["frames_per_run"], 10);
        // Every hop of every timed run is one sample.
        let median_ms = check_stats(&r["latency_ms"], 3 * 10);
        check_rates(r, median_ms, HOP_S);
        check_memory(&r["memory"]);
    }
    // In blocks: ten hops are one (partial) block per run, one sample, its time per hop.
    let r = &native["block_pipeline"];
    assert_eq!(r["frames_per_run"], 10);
    let median_ms = check_stats(&r["latency_ms"], 3);
    check_rates(r, median_ms, HOP_S);
    check_memory(&r["memory"]);
}

#[test]
fn markdown_train_step_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let svg = dir.path().join("plot.svg");
    dfn4()
        .args([
            "bench",
            "--batch-sizes",
            "1,3",
            "--seq-length",
            "4",
            "--num-warmup",
            "0",
        ])
        .args([
            "--num-runs",
            "2",
            "--only",
            "native",
            "--threads",
            "1",
            "--markdown",
        ])
        .arg("--train-step")
        .arg("--plot")
        .arg(&svg)
        .arg("--model")
        .arg(&model)
        .assert()
        .success()
        .stdout(predicate::str::contains("### Offline latency"))
        .stdout(predicate::str::contains("| backend | batch | median ms |"))
        .stdout(predicate::str::contains("|:---|---:|"))
        .stdout(predicate::str::contains("| native | 3 |"))
        .stdout(predicate::str::contains(
            "not available: native has no autograd",
        ));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg") && text.contains("native") && text.contains("batch size"));
}

#[test]
fn unusable_backends_fail_with_one_line() {
    let mut cases: Vec<(&[&str], &str)> = vec![
        (
            &["--backends", "native", "mlx-gpu"],
            "backend \"mlx-gpu\" is not compiled into this build",
        ),
        (
            &["--backends", "warp"],
            "unknown backend \"warp\" (available: native, native-f16, native-i8",
        ),
    ];
    // tch-cuda is either not compiled in, or compiled in but unavailable without a GPU; where it can run
    // there is nothing to check for it.
    if !cfg!(feature = "tch") {
        cases.push((
            &["--only", "tch-cuda"],
            "backend \"tch-cuda\" is not compiled into this build",
        ));
    } else if !dfn4::backend::registry::usable_names().contains(&"tch-cuda") {
        cases.push((
            &["--only", "tch-cuda"],
            "tch-cuda: CUDA is not available on this machine",
        ));
    }
    for (args, want) in cases {
        let out = dfn4().arg("bench").args(args).output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.starts_with("error: ") && stderr.contains(want),
            "{stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}
