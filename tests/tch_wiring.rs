//! The tch backends wired into the CLI (feature `tch`): `dfn4 enhance --backend tch-cpu` gives the same
//! audio as the native backend, `dfn4 bench` measures tch-cpu (training step included), a missing device
//! is a one-line error, and `TchBackend::forward_backward` gives every parameter a gradient.
mod common;

use common::{dfn4, random_model, read_wav, test_signal, write_wav, Fmt};
use dfn4::backend::registry::{self, TchDevice};
use dfn4::backend::tch::{device, register_cuda, TchBackend};
use dfn4::backend::SeqFeatures;
use dfn4::config::ModelConfig;
use dfn4::model::Weights;
use serde_json::Value;

/// Runs `dfn4 enhance IN OUT --model M --backend NAME` and returns the output's only channel.
fn enhance(dir: &std::path::Path, model: &std::path::Path, backend: &str) -> Vec<f32> {
    let input = dir.join("in.wav");
    let output = dir.join(format!("out-{backend}.wav"));
    dfn4()
        .arg("enhance")
        .arg(&input)
        .arg(&output)
        .arg("--model")
        .arg(model)
        .args(["--backend", backend])
        .assert()
        .success();
    read_wav(&output).channels.remove(0)
}

#[test]
fn enhance_tch_cpu_equals_native() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    // 0.6 s at 48 kHz, float samples so the file format adds no rounding.
    let signal = test_signal(48_000, 28_800, 0);
    write_wav(&dir.path().join("in.wav"), 48_000, Fmt::F32, &[signal]);
    let native = enhance(dir.path(), &model, "native");
    let tch = enhance(dir.path(), &model, "tch-cpu");
    assert_eq!(native.len(), tch.len());
    let max_diff = native
        .iter()
        .zip(&tch)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let peak = native.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak > 1e-3, "the output is (nearly) silent: peak {peak}");
    assert!(max_diff <= 1e-4, "max |native − tch-cpu| = {max_diff:e}");
}

/// Runs `dfn4 bench --only tch-cpu` with `extra` arguments and returns the JSON report's tch-cpu entry.
fn bench_tch_cpu(extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    dfn4()
        .args(["bench", "--only", "tch-cpu", "--batch-sizes", "1"])
        .args(["--seq-length", "5", "--num-warmup", "1", "--num-runs", "2"])
        .args(extra)
        .arg("--output")
        .arg(&json)
        .assert()
        .success();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["baseline"], "tch-cpu");
    let backends = report["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 1);
    assert_eq!(backends[0]["name"], "tch-cpu");
    backends[0].clone()
}

fn median_ms(stats: &Value) -> f64 {
    stats["median"].as_f64().unwrap()
}

#[test]
fn bench_measures_tch_cpu() {
    let be = bench_tch_cpu(&[]);
    let offline = be["offline"].as_array().unwrap();
    assert_eq!(offline.len(), 1);
    assert_eq!(offline[0]["batch"], 1);
    assert_eq!(offline[0]["frames"], 5);
    assert_eq!(offline[0]["latency_ms"]["samples"], 2);
    assert!(median_ms(&offline[0]["latency_ms"]) > 0.0);
    // Streaming and pipeline time every hop: 2 runs × 5 frames.
    for mode in ["streaming", "pipeline"] {
        assert_eq!(be[mode]["latency_ms"]["samples"], 10, "{mode}");
        assert!(median_ms(&be[mode]["latency_ms"]) > 0.0, "{mode}");
    }
    assert!(be["train_step"].is_null());
}

#[test]
fn bench_times_tch_cpu_training_steps() {
    let be = bench_tch_cpu(&["--train-step", "--threads", "1"]);
    let train = &be["train_step"];
    assert_eq!(train["available"], true, "{train}");
    let results = train["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["batch"], 1);
    assert_eq!(results[0]["latency_ms"]["samples"], 2);
    assert!(median_ms(&results[0]["latency_ms"]) > 0.0);
}

#[test]
fn missing_cuda_is_one_line() {
    register_cuda();
    if tch::Cuda::is_available() {
        assert_eq!(
            device(TchDevice::Cuda, "tch-cuda").unwrap(),
            tch::Device::Cuda(0)
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let input = dir.path().join("in.wav");
    write_wav(&input, 48_000, Fmt::F32, &[test_signal(48_000, 4800, 0)]);
    let out = dfn4()
        .arg("enhance")
        .arg(&input)
        .arg(dir.path().join("out.wav"))
        .arg("--model")
        .arg(&model)
        .args(["--backend", "tch-cuda"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("error: ")
            && stderr.contains("tch-cuda: CUDA is not available on this machine"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!dir.path().join("out.wav").exists());
    assert_eq!(device(TchDevice::Cpu, "tch-cpu").unwrap(), tch::Device::Cpu);
    assert!(registry::lookup("tch-tpu").is_err());
}

#[test]
fn forward_backward_reaches_every_parameter() {
    let cfg = ModelConfig::default();
    let tch = TchBackend::new(&Weights::random(&cfg, 5), tch::Device::Cpu).unwrap();
    let mut feats = SeqFeatures::zeros(&cfg, 2, 6);
    for (i, x) in feats.erb.iter_mut().enumerate() {
        *x = ((i * 7919) % 200) as f32 / 100.0 - 1.0;
    }
    for (i, x) in feats.spec.iter_mut().enumerate() {
        *x = ((i * 104_729) % 100) as f32 / 100.0 - 0.5;
    }
    let before: Vec<tch::Tensor> = tch
        .var_store()
        .trainable_variables()
        .iter()
        .map(|p| p.detach().copy())
        .collect();
    let (erb, spec) = tch.seq_tensors(&feats).unwrap();
    let loss = f64::try_from(&tch.forward_backward(&erb, &spec)).unwrap();
    assert!(loss.is_finite() && loss > 0.0, "loss {loss}");
    let params = tch.var_store().trainable_variables();
    assert_eq!(params.len(), before.len());
    let mut grads = Vec::with_capacity(params.len());
    for p in &params {
        let g = p.grad();
        assert!(
            g.defined(),
            "a parameter of shape {:?} got no gradient",
            p.size()
        );
        let norm = f64::try_from(&g.norm()).unwrap();
        assert!(norm.is_finite() && norm > 0.0, "gradient norm {norm}");
        // A copy: the next call zeroes and refills the same gradient tensors in place.
        grads.push(g.copy());
    }
    for (p, b) in params.iter().zip(&before) {
        assert!(p.equal(b), "a parameter changed");
    }
    // Gradients are zeroed, not accumulated, between calls: the same batch gives the same gradients.
    let again = f64::try_from(&tch.forward_backward(&erb, &spec)).unwrap();
    assert!(
        (again - loss).abs() <= 1e-9 * loss,
        "loss {loss} then {again}"
    );
    for (p, g) in params.iter().zip(&grads) {
        assert!(p.grad().allclose(g, 1e-6, 1e-7, false));
    }
}
