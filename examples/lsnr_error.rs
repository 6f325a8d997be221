//! How well the model's LSNR head predicts the local SNR on a dev set: the figure that decides whether
//! libDF's LSNR gates may be turned on (issue target: RMS error ≤ 3 dB on dev v3).
//!
//! For every pair `clean/NAME.wav`, `noisy/NAME.wav` (48 kHz mono) of a dev set, the noisy file is
//! streamed through a [`Denoiser`] (native `f32`) and each hop's LSNR estimate is kept. The truth is the
//! one the trainer's loss uses (`src/train/loss.rs`, [`lsnr_target_db`]): per STFT frame, 10·log10 of
//! the clean frame's energy over the energy of (noisy − clean), clamped to the model's LSNR range; the
//! estimate at hop `t + lookahead` is compared with the truth of frame `t`, as in training. Both spectra come from the
//! library's own analysis, so the frames line up exactly with the model's.
//!
//! Prints one table (overall, per category when `meta.json` names them, per band of true LSNR) and one
//! JSON line.
//!
//! `cargo run --release --example lsnr_error -- data/devset_v3 [--model models/checkpoint_v3/model.safetensors]`
//! (`--lag HOPS` compares at another lag than the model's lookahead: an alignment check).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use dfn4::backend::native::NativeBackend;
use dfn4::config::{HOP_SIZE, LSNR_MAX_DB, LSNR_MIN_DB, NB_FREQS};
use dfn4::denoiser::{DenoiseParams, Denoiser};
use dfn4::dsp::features::{analyze_signal, lsnr_target_db};
use dfn4::dsp::Complex32;
use dfn4::model::{embedded, Weights};

/// Squared errors collected for one group of frames.
#[derive(Default)]
struct ErrorSum {
    frames: usize,
    sum_sq_db2: f64,
    sum_db: f64,
}

impl ErrorSum {
    fn add(&mut self, err_db: f64) {
        self.frames += 1;
        self.sum_sq_db2 += err_db * err_db;
        self.sum_db += err_db;
    }
    fn rms_db(&self) -> f64 {
        (self.sum_sq_db2 / self.frames.max(1) as f64).sqrt()
    }
    fn bias_db(&self) -> f64 {
        self.sum_db / self.frames.max(1) as f64
    }
}

fn mono_48k(path: &Path) -> anyhow::Result<Vec<f32>> {
    let audio = dfn4::audio_io::read_wav(path).with_context(|| format!("{}", path.display()))?;
    if audio.sample_rate_hz != 48_000 || audio.channels.len() != 1 {
        bail!("{}: expected 48 kHz mono", path.display());
    }
    Ok(audio.channels.into_iter().next().unwrap_or_default())
}

/// Category of each file from the dev set's `meta.json` (dev v3), if it has one.
fn categories(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let path = dir.join("meta.json");
    let mut out = BTreeMap::new();
    if !path.exists() {
        return Ok(out);
    }
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    for pair in meta["pairs"].as_array().into_iter().flatten() {
        if let (Some(name), Some(cat)) = (pair["name"].as_str(), pair["category"].as_str()) {
            out.insert(name.to_string(), cat.to_string());
        }
    }
    Ok(out)
}

/// Band of true LSNR a frame falls in, for the per-band rows.
fn band(true_db: f32) -> &'static str {
    match true_db {
        t if t <= LSNR_MIN_DB => "at the floor (-15 dB)",
        t if t < 0.0 => "-15..0 dB",
        t if t < 10.0 => "0..10 dB",
        t if t < 20.0 => "10..20 dB",
        t if t < LSNR_MAX_DB => "20..35 dB",
        _ => "at the ceiling (35 dB)",
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let mut model: Option<PathBuf> = None;
    let mut lag: Option<usize> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = Some(args.next().context("--model needs a path")?.into()),
            // The alignment check: the error should be smallest at the model's own lookahead.
            "--lag" => lag = Some(args.next().context("--lag needs a number")?.parse()?),
            _ if dir.is_none() => dir = Some(a.into()),
            _ => bail!("usage: lsnr_error DEVSET_DIR [--model WEIGHTS.safetensors] [--lag HOPS]"),
        }
    }
    let dir =
        dir.context("usage: lsnr_error DEVSET_DIR [--model WEIGHTS.safetensors] [--lag HOPS]")?;
    let weights = match &model {
        Some(p) => Weights::load(p)?,
        None => embedded::load()?,
    };
    let lookahead = lag.unwrap_or(weights.config().df_lookahead);
    let backend = Arc::new(NativeBackend::new(&weights)?);
    let cats = categories(&dir)?;

    let mut names: Vec<String> = std::fs::read_dir(dir.join("noisy"))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".wav"))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no .wav files in {}", dir.join("noisy").display());
    }
    let mut groups: BTreeMap<String, ErrorSum> = BTreeMap::new();
    let mut out = [0.0f32; HOP_SIZE];
    for name in &names {
        let noisy = mono_48k(&dir.join("noisy").join(name))?;
        let clean = mono_48k(&dir.join("clean").join(name))?;
        let n = noisy.len().min(clean.len());
        let (noisy, clean) = (&noisy[..n], &clean[..n]);
        // A fresh denoiser per file, as `dfn4 enhance` runs each file.
        let mut denoiser = Denoiser::new(backend.clone(), DenoiseParams::default())?;
        let mut estimate_db = Vec::with_capacity(n / HOP_SIZE + 1);
        let mut hop = [0.0f32; HOP_SIZE];
        for chunk in noisy.chunks(HOP_SIZE) {
            hop.fill(0.0);
            hop[..chunk.len()].copy_from_slice(chunk);
            estimate_db.push(denoiser.process_frame(&hop, &mut out)?);
        }
        // The library's whole-signal analysis (zero-padded to whole hops), frame by frame.
        let (frames_clean, frames_noisy) = (analyze_signal(clean), analyze_signal(noisy));
        let spec_clean: Vec<&[Complex32]> = frames_clean.spec.chunks(NB_FREQS).collect();
        let spec_noisy: Vec<&[Complex32]> = frames_noisy.spec.chunks(NB_FREQS).collect();
        let cat = cats.get(name).cloned();
        for t in 0..spec_clean.len().saturating_sub(lookahead) {
            let truth = lsnr_target_db(spec_clean[t], spec_noisy[t]);
            let err = f64::from(estimate_db[t + lookahead] - truth);
            groups.entry("all".into()).or_default().add(err);
            if let Some(c) = &cat {
                groups.entry(format!("category {c}")).or_default().add(err);
            }
            groups
                .entry(format!("true LSNR {}", band(truth)))
                .or_default()
                .add(err);
        }
    }

    println!(
        "LSNR head on {} ({} files, model {})",
        dir.display(),
        names.len(),
        model
            .as_deref()
            .map_or("embedded".into(), |p| p.display().to_string())
    );
    println!(
        "| frames | group | RMS error (dB) | mean error (dB, + = too high) |\n| --- | --- | --- | --- |"
    );
    let all = &groups["all"];
    println!(
        "| {} | all | {:.2} | {:+.2} |",
        all.frames,
        all.rms_db(),
        all.bias_db()
    );
    for (k, g) in groups.iter().filter(|(k, _)| k.as_str() != "all") {
        println!(
            "| {} | {k} | {:.2} | {:+.2} |",
            g.frames,
            g.rms_db(),
            g.bias_db()
        );
    }
    let json: serde_json::Map<String, serde_json::Value> = groups
        .iter()
        .map(|(k, g)| {
            (
                k.clone(),
                serde_json::json!({"frames": g.frames, "rms_db": g.rms_db(), "bias_db": g.bias_db()}),
            )
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({"devset": dir.display().to_string(), "model": model.map(|p| p.display().to_string()), "groups": json})
    );
    Ok(())
}
