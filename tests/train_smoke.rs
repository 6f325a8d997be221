//! Training smoke tests on CPU with a synthetic mini-corpus written to a temp dir.
#![cfg(feature = "train")]
use std::path::Path;

use dfn4::model::Weights;
use dfn4::train::corpus::Corpus;
use dfn4::train::mix::{make_batch, MixConfig, Split};
use dfn4::train::trainer::Trainer;
use dfn4::train::TrainConfig;

/// The scan a training forward uses is chosen per process (`fused_scan::set_training_scan`), and `run`
/// and the bench set it: a test whose two trainers must compute alike (the LSNR weight's) saw the other
/// scan midway when another test set it meanwhile. Every test here trains or calls `run`, so each holds
/// this lock for its whole body and they run one at a time.
static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    // A test that failed while holding the lock poisons it; the others still run.
    TRAINING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Voiced, syllable-modulated harmonic "speech" at `rate` Hz.
fn fake_speech(rate: u32, seconds: f32, f0: f32) -> Vec<f32> {
    let n = (rate as f32 * seconds) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let env = (std::f32::consts::PI * 4.0 * t).sin().abs();
            let tone: f32 = (1..=20)
                .filter(|h| (*h as f32) * f0 < rate as f32 / 2.0)
                .map(|h| (std::f32::consts::TAU * h as f32 * f0 * t).sin() / h as f32)
                .sum();
            0.2 * env * tone
        })
        .collect()
}

fn write_wav(path: &Path, rate: u32, x: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for v in x {
        w.write_sample((v.clamp(-1.0, 1.0) * 32767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

fn make_corpus(dir: &Path) {
    let mut files = Vec::new();
    std::fs::create_dir_all(dir.join("speech")).unwrap();
    std::fs::create_dir_all(dir.join("noise")).unwrap();
    for (i, f0) in [110.0f32, 140.0, 180.0, 220.0].iter().enumerate() {
        let split = if i == 3 { "dev" } else { "train" };
        let p = format!("speech/s{i}.wav");
        write_wav(&dir.join(&p), 16_000, &fake_speech(16_000, 2.0, *f0));
        files.push(serde_json::json!({"path": p, "kind": "speech", "split": split, "sample_rate_hz": 16000, "source": "synthetic"}));
    }
    let mut state = 1u32;
    let noise: Vec<f32> = (0..48_000)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect();
    write_wav(&dir.join("noise/n0.wav"), 48_000, &noise);
    files.push(serde_json::json!({"path": "noise/n0.wav", "kind": "noise", "split": "train", "sample_rate_hz": 48000, "source": "synthetic"}));
    let m = serde_json::json!({ "files": files });
    std::fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
}

/// A CPU run of `steps` steps at batch 2 on 1 s examples, validating and checkpointing every 2 steps.
fn tiny_run(corpus: &Path, ckpt: &Path, export: &Path, steps: u64) -> TrainConfig {
    TrainConfig {
        corpus: corpus.to_path_buf(),
        ckpt_dir: ckpt.to_path_buf(),
        export_dir: export.to_path_buf(),
        device: "cpu".into(),
        batch: 2,
        seconds: 1.0,
        steps,
        warmup: 1,
        log_every: 1,
        val_every: 2,
        ckpt_every: 2,
        dev_examples: 2,
        git_rev: Some("test".into()),
        ..TrainConfig::default()
    }
}

#[test]
fn loss_decreases_on_a_fixed_batch() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    make_corpus(dir.path());
    let corpus = Corpus::load(dir.path()).unwrap();
    assert_eq!(corpus.speech_dev.len(), 1);
    let mix = MixConfig::new(1.0);
    let hb = make_batch(&corpus, Split::Train, &mix, 7, 0, 2);
    assert_eq!(hb.frames, 100);
    let cfg = dfn4::config::ModelConfig::default();
    let mut tr = Trainer::new(&cfg, 1, tch::Device::Cpu, 0.0).unwrap();
    let losses: Vec<f64> = (0..20)
        .map(|_| tr.train_step(&hb, 1e-3, 1.0).total)
        .collect();
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    let first = losses[..3].iter().sum::<f64>() / 3.0;
    let last = losses[17..].iter().sum::<f64>() / 3.0;
    assert!(last < 0.8 * first, "loss did not decrease: {losses:?}");
}

#[test]
fn lsnr_weight_scales_only_the_lsnr_term() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    make_corpus(dir.path());
    let corpus = Corpus::load(dir.path()).unwrap();
    let hb = make_batch(&corpus, Split::Train, &MixConfig::new(1.0), 7, 0, 2);
    let cfg = dfn4::config::ModelConfig::default();
    // Same seed, same batch: the first step's terms are equal, the total moves by the LSNR term alone.
    let step = |w: f64| {
        let mut tr = Trainer::new(&cfg, 1, tch::Device::Cpu, 0.0).unwrap();
        tr.set_lsnr_weight(w);
        tr.train_step(&hb, 1e-3, 1.0)
    };
    let (low, high) = (step(0.01), step(1.0));
    assert!(low.lsnr > 0.0);
    assert!((low.lsnr - high.lsnr).abs() <= 1e-9 * low.lsnr.max(1.0));
    let moved = high.total - low.total;
    let want = (1.0 - 0.01) * low.lsnr;
    assert!(
        (moved - want).abs() <= 1e-4 * want,
        "total moved {moved}, LSNR term {want}"
    );
}

#[test]
fn run_checkpoints_resumes_and_exports() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    make_corpus(&corpus);
    let ckpt = dir.path().join("ckpt");
    let export = dir.path().join("models");
    let args = |steps: &str, ckpt: &Path, export: &Path| TrainConfig {
        corpus: corpus.clone(),
        ckpt_dir: ckpt.to_path_buf(),
        export_dir: export.to_path_buf(),
        device: "cpu".into(),
        batch: 2,
        seconds: 1.0,
        steps: steps.parse().unwrap(),
        warmup: 2,
        log_every: 1,
        val_every: 2,
        ckpt_every: 2,
        dev_examples: 2,
        auto_resume: true,
        git_rev: Some("test".into()),
        ..TrainConfig::default()
    };
    // Part of a 5-step schedule, then resumed to its end.
    let mut a3 = args("5", &ckpt, &export);
    a3.run_steps = 3;
    dfn4::train::run(a3).unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join("latest/state.json")).unwrap())
            .unwrap();
    assert_eq!(state["step"], 3);
    let w1 = Weights::load(&export.join("dfn4.safetensors")).unwrap();
    dfn4::train::run(args("5", &ckpt, &export)).unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join("latest/state.json")).unwrap())
            .unwrap();
    assert_eq!(state["step"], 5);
    let w2 = Weights::load(&export.join("dfn4.safetensors")).unwrap();
    assert_ne!(w1, w2, "resumed training must change the weights");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(export.join("dfn4.json")).unwrap()).unwrap();
    assert_eq!(json["provenance"]["training"]["steps"], 5);
    assert!(json["provenance"]["validation"]["si_sdr_impr_db"].is_number());
    let log = std::fs::read_to_string(ckpt.join("train_log.jsonl")).unwrap();
    assert!(log.lines().count() >= 5);
    // An uninterrupted run reaches bit-identical weights: resuming restores moments and data stream.
    let (ckpt2, export2) = (dir.path().join("ckpt2"), dir.path().join("models2"));
    dfn4::train::run(args("5", &ckpt2, &export2)).unwrap();
    let w3 = Weights::load(&export2.join("dfn4.safetensors")).unwrap();
    assert_eq!(w2, w3, "resumed and uninterrupted training differ");
    // Uploading on the training thread instead of the producer changes nothing but timing.
    let (ckpt3, export3) = (dir.path().join("ckpt3"), dir.path().join("models3"));
    let mut main_upload = args("5", &ckpt3, &export3);
    main_upload.upload = "main".into();
    dfn4::train::run(main_upload).unwrap();
    let w4 = Weights::load(&export3.join("dfn4.safetensors")).unwrap();
    assert_eq!(w3, w4, "--upload main and producer differ");
}

#[test]
fn bench_measures_steps_and_end_to_end_on_cpu() {
    let _serial = one_at_a_time();
    // The GPU hold's measurement (`--bench-batches`) must run through on any device: steps by phase for
    // both scans, then end to end through the producer thread; a failure prints a note, not a panic.
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    make_corpus(&corpus);
    dfn4::train::run(TrainConfig {
        corpus,
        ckpt_dir: dir.path().join("ckpt"),
        export_dir: dir.path().join("models"),
        device: "cpu".into(),
        seconds: 1.0,
        bench_batches: vec![2],
        bench_steps: 1,
        git_rev: Some("test".into()),
        ..TrainConfig::default()
    })
    .unwrap();
    assert!(
        !dir.path().join("models/dfn4.safetensors").exists(),
        "a measurement saves nothing"
    );
}

#[test]
fn recorded_dev_pairs_are_scored_and_choose_the_best_export() {
    let _serial = one_at_a_time();
    // `--dev-pairs`: a folder of noisy/clean pairs (here two of 1 s at 16 kHz) is scored at every
    // validation, logged, recorded in the state and the provenance, and picks `<ckpt-dir>/best`.
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    make_corpus(&corpus);
    let pairs = dir.path().join("devset");
    for sub in ["noisy", "clean"] {
        std::fs::create_dir_all(pairs.join(sub)).unwrap();
    }
    for (name, f0) in [("000.wav", 130.0f32), ("001.wav", 200.0)] {
        let clean = fake_speech(16_000, 1.0, f0);
        let noisy: Vec<f32> = clean
            .iter()
            .enumerate()
            .map(|(i, v)| v + 0.05 * ((i * 7919 % 101) as f32 / 101.0 - 0.5))
            .collect();
        write_wav(&pairs.join("clean").join(name), 16_000, &clean);
        write_wav(&pairs.join("noisy").join(name), 16_000, &noisy);
    }
    let ckpt = dir.path().join("ckpt");
    dfn4::train::run(TrainConfig {
        dev_pairs: Some(pairs.clone()),
        ..tiny_run(&corpus, &ckpt, &dir.path().join("models"), 4)
    })
    .unwrap();
    let log = std::fs::read_to_string(ckpt.join("train_log.jsonl")).unwrap();
    let scored: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("dev_pairs").is_some())
        .collect();
    assert_eq!(
        scored
            .iter()
            .map(|v| v["step"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [2, 4]
    );
    let impr: Vec<f64> = scored
        .iter()
        .map(|v| v["dev_pairs"]["si_sdr_impr_db"].as_f64().unwrap())
        .collect();
    assert!(impr.iter().all(|v| v.is_finite()), "{impr:?}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join("latest/state.json")).unwrap())
            .unwrap();
    let best = &state["best_dev_pairs_si_sdr_impr_db"];
    let best_step = if impr[1] > impr[0] { 4 } else { 2 };
    assert_eq!(
        best[1], best_step,
        "the best is the higher of the two scores"
    );
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join("best/dfn4.json")).unwrap())
            .unwrap();
    assert_eq!(exported["provenance"]["training"]["steps"], best_step);
    assert_eq!(
        exported["provenance"]["dev_pairs"]["dir"],
        pairs.display().to_string()
    );
}

#[test]
fn impossible_settings_are_refused_by_name_before_anything_loads() {
    let _serial = one_at_a_time();
    // Each would otherwise panic in a mixing thread (a probability above 1, an empty SNR range) or
    // divide by zero mid-run; the corpus path does not exist, so only the check can answer.
    let base = || TrainConfig {
        corpus: "/nonexistent/corpus".into(),
        device: "cpu".into(),
        ..TrainConfig::default()
    };
    type Edit = fn(&mut TrainConfig);
    let cases: [(Edit, &str); 13] = [
        (|c| c.clean_prob = 2.0, "--clean-prob"),
        (|c| c.music_prob = -0.1, "--music-prob"),
        (|c| c.clean_prob = f64::NAN, "--clean-prob"),
        (|c| c.snr_max_db = -10.0, "--snr-max-db"),
        (|c| c.lsnr_weight = f64::INFINITY, "--lsnr-weight"),
        (
            |c| c.speech_source_exponent = Some(-1.0),
            "--speech-source-exponent",
        ),
        (|c| c.val_every = 0, "--val-every"),
        (|c| c.batch = 0, "--batch"),
        (|c| c.lr = 0.0, "--lr"),
        (|c| c.ema_decay = Some(1.0), "--ema-decay"),
        (|c| c.speed_perturb_prob = 1.5, "--speed-perturb-prob"),
        (|c| c.speed_perturb_max = 0.6, "--speed-perturb-max"),
        (|c| c.speed_perturb_max = f32::NAN, "--speed-perturb-max"),
    ];
    for (edit, name) in cases {
        let mut cfg = base();
        edit(&mut cfg);
        let e = dfn4::train::run(cfg).unwrap_err().to_string();
        assert!(e.contains(name), "{name}: {e}");
    }
    // The defaults pass the check (and then fail on the missing corpus, which names it).
    let e = dfn4::train::run(base()).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/corpus"), "{e}");
}

#[test]
fn moving_average_is_exported_while_checkpoints_keep_the_raw_weights() {
    let _serial = one_at_a_time();
    // `--ema-decay`: validation and the exports read the average, the checkpoint the raw weights, and
    // the optimisation itself is untouched (the raw weights equal those of a run without the average).
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    make_corpus(&corpus);
    let run = |name: &str, ema_decay: Option<f64>| {
        let (ckpt, export) = (
            dir.path().join(name),
            dir.path().join(format!("{name}-models")),
        );
        dfn4::train::run(TrainConfig {
            ema_decay,
            ..tiny_run(&corpus, &ckpt, &export, 4)
        })
        .unwrap();
        let raw = Weights::load(&ckpt.join("latest/model.safetensors")).unwrap();
        let exported = Weights::load(&export.join("dfn4.safetensors")).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(export.join("dfn4.json")).unwrap())
                .unwrap();
        (raw, exported, json)
    };
    let (raw_plain, exported_plain, json_plain) = run("plain", None);
    let (raw_avg, exported_avg, json_avg) = run("avg", Some(0.5));
    assert_eq!(
        raw_plain, exported_plain,
        "without an average the export is the raw weights"
    );
    assert_eq!(
        raw_avg, raw_plain,
        "keeping an average changed the training"
    );
    assert_ne!(exported_avg, raw_avg, "the export is not the average");
    assert_eq!(json_avg["provenance"]["training"]["ema_decay"], 0.5);
    assert!(json_plain["provenance"]["training"]["ema_decay"].is_null());
}

#[test]
fn a_run_with_the_band_mask_trains_and_says_so() {
    let _serial = one_at_a_time();
    // `--mask-loss-above-band` on the synthetic corpus (16 kHz clips: their band is 8 kHz, so the
    // mask is live): the run goes through, its losses stay finite and the export records the choice.
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    make_corpus(&corpus);
    let (ckpt, export) = (dir.path().join("ckpt"), dir.path().join("models"));
    dfn4::train::run(TrainConfig {
        mask_loss_above_band: true,
        ..tiny_run(&corpus, &ckpt, &export, 2)
    })
    .unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(export.join("dfn4.json")).unwrap()).unwrap();
    assert_eq!(
        json["provenance"]["training"]["loss_masked_above_band"],
        true
    );
    assert!(json["provenance"]["losses"]["mag"]
        .as_f64()
        .unwrap()
        .is_finite());
}
