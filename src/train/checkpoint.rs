//! Checkpoints (parameters + AdamW moments as safetensors, progress as JSON) and the final export to
//! `models/dfn4.safetensors` + `models/dfn4.json` in the layout `Weights::load` reads.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::{train_bail, TrainContext};
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::optim::AdamW;
use crate::config::ModelConfig;
use crate::model::{weight_specs, Weights};

/// Progress and bookkeeping stored beside the tensors.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps completed.
    pub step: u64,
    /// Data/initialisation seed (examples are a function of seed and step).
    pub seed: u64,
    /// Network hyper-parameters.
    pub model: Option<ModelConfig>,
    /// Mean training losses over the last logging window.
    pub last_train: BTreeMap<String, f64>,
    /// Latest validation results.
    pub last_val: BTreeMap<String, f64>,
    /// Best validation SI-SDR improvement so far (dB) and the step it was seen at.
    pub best_val_si_sdr_impr_db: Option<(f64, u64)>,
    /// Latest results on the recorded dev pairs (`--dev-pairs`), when given.
    #[serde(default)]
    pub last_dev_pairs: BTreeMap<String, f64>,
    /// Best SI-SDR improvement on the recorded dev pairs so far (dB) and its step.
    #[serde(default)]
    pub best_dev_pairs_si_sdr_impr_db: Option<(f64, u64)>,
    /// Wall-clock seconds of training over all runs.
    pub train_seconds: f64,
    /// Examples seen over all runs.
    pub examples_seen: u64,
    /// Running mean of the gradient norm (adaptive clipping).
    #[serde(default)]
    pub grad_norm_ema: Option<f64>,
}

const MODEL_FILE: &str = "model.safetensors";
// First and second moments in separate files: each stays under 16 MiB (what a device run returns per file).
const MOMENT_FILES: [(&str, &str); 2] =
    [("m.", "optim_m.safetensors"), ("v.", "optim_v.safetensors")];
const STATE_FILE: &str = "state.json";

/// Writes `<ckpt_dir>/latest` atomically (a temp dir renamed over the old one). With `compact`, the AdamW
/// moments are stored as bf16 (half the size; resuming is then close to, not bit-exact with, an
/// uninterrupted run); otherwise everything is f32 and resuming is exact.
pub fn save(
    ckpt_dir: &Path,
    vars: &BTreeMap<String, Tensor>,
    opt: &AdamW,
    state: &TrainState,
    compact: bool,
) -> crate::Result<PathBuf> {
    std::fs::create_dir_all(ckpt_dir).ctx(|| format!("cannot create {}", ckpt_dir.display()))?;
    let tmp = ckpt_dir.join("latest.tmp");
    let dst = ckpt_dir.join("latest");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let params: Vec<(String, Tensor)> = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.detach().to_device(Device::Cpu)))
        .collect();
    Tensor::write_safetensors(&params, tmp.join(MODEL_FILE))?;
    let kind = if compact { Kind::BFloat16 } else { Kind::Float };
    let moments = opt.state_tensors();
    for (prefix, file) in MOMENT_FILES {
        let part: Vec<(String, Tensor)> = moments
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.to_device(Device::Cpu).to_kind(kind)))
            .collect();
        Tensor::write_safetensors(&part, tmp.join(file))?;
    }
    std::fs::write(tmp.join(STATE_FILE), serde_json::to_string_pretty(state)?)?;
    let old = ckpt_dir.join("latest.old");
    let _ = std::fs::remove_dir_all(&old);
    if dst.exists() {
        std::fs::rename(&dst, &old)?;
    }
    std::fs::rename(&tmp, &dst)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(dst)
}

/// Restores parameters and optimiser moments from a checkpoint directory; returns its state.
pub fn load(
    dir: &Path,
    vars: &BTreeMap<String, Tensor>,
    opt: &mut AdamW,
) -> crate::Result<TrainState> {
    let state: TrainState = serde_json::from_str(
        &std::fs::read_to_string(dir.join(STATE_FILE))
            .ctx(|| format!("no checkpoint state in {}", dir.display()))?,
    )?;
    let saved: HashMap<String, Tensor> = Tensor::read_safetensors(dir.join(MODEL_FILE))?
        .into_iter()
        .collect();
    tch::no_grad(|| -> crate::Result<()> {
        for (name, var) in vars {
            let src = saved
                .get(name)
                .ctx(|| format!("checkpoint lacks parameter {name}"))?;
            if src.size() != var.size() {
                train_bail!(
                    "parameter {name} has shape {:?}, expected {:?}",
                    src.size(),
                    var.size()
                );
            }
            var.shallow_clone().copy_(src);
        }
        Ok(())
    })?;
    let mut moments: HashMap<String, Tensor> = HashMap::new();
    for (_, file) in MOMENT_FILES {
        for (k, v) in Tensor::read_safetensors(dir.join(file))? {
            moments.insert(k, v.to_kind(Kind::Float));
        }
    }
    opt.load_state(&moments, state.step)?;
    Ok(state)
}

/// Writes `<dir>/dfn4.safetensors` (f32, spec names and shapes) and `<dir>/dfn4.json`
/// (`{"model": ModelConfig, "provenance": ...}`), after checking the bytes load as [`Weights`].
pub fn export(
    dir: &Path,
    cfg: &ModelConfig,
    vars: &BTreeMap<String, Tensor>,
    provenance: serde_json::Value,
) -> crate::Result<PathBuf> {
    let mut blobs = Vec::new();
    for spec in weight_specs(cfg) {
        let t = vars
            .get(&spec.name)
            .ctx(|| format!("model lacks parameter {}", spec.name))?
            .detach()
            .to_kind(Kind::Float)
            .to_device(Device::Cpu)
            .contiguous();
        let n = t.numel();
        let mut data = vec![0.0f32; n];
        t.copy_data(&mut data, n);
        let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        blobs.push((spec.name, spec.shape, bytes));
    }
    let views = blobs
        .iter()
        .map(|(k, s, b)| Ok((k.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<crate::Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(views, None)?;
    Weights::from_safetensors_bytes(cfg, &bytes)
        .ctx(|| "exported weights do not validate".into())?;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("dfn4.safetensors");
    std::fs::write(&path, &bytes)?;
    let json = serde_json::json!({ "model": cfg, "provenance": provenance });
    std::fs::write(dir.join("dfn4.json"), serde_json::to_string_pretty(&json)?)?;
    Ok(path)
}
