//! `dfn4 train` (feature `train`): trains DfNet4 on the tch backend from a corpus of clean speech and
//! noise mixed on the fly ([`mix`]), with DeepFilterNet-style losses ([`loss`]), a hand-written AdamW
//! ([`optim`]), resumable checkpoints and the export to `models/dfn4.*` ([`checkpoint`]).
//!
//! Runs are meant to be chained: each stops at `--max-minutes`, writes a checkpoint and an export, and the
//! next one (`--resume`, or `--auto-resume`) continues exactly where it stopped.
pub mod augment;
pub mod bench;
pub mod checkpoint;
pub mod corpus;
pub mod dev_pairs;
pub mod ema;
pub mod loss;
pub mod memory;
pub mod mix;
pub mod optim;
pub mod stream;
pub mod trainer;

use std::path::PathBuf;

use crate::Error;

/// How a training run is set up (the options of `dfn4 train`; the command line maps onto this).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Corpus directory holding `manifest.json`.
    pub corpus: PathBuf,
    /// Directory for checkpoints (`<dir>/latest`) and the training log.
    pub ckpt_dir: PathBuf,
    /// Resume from this checkpoint directory (e.g. `data/work/ckpt/latest`).
    pub resume: Option<PathBuf>,
    /// Resume from `<ckpt-dir>/latest` when it exists (for chained runs with one command line).
    pub auto_resume: bool,
    /// Where `dfn4.safetensors` and `dfn4.json` are exported at the end of each run.
    pub export_dir: PathBuf,
    /// Device: auto, cpu, cuda, cuda:N, mps.
    pub device: String,
    /// Examples per step.
    pub batch: usize,
    /// Segment length in seconds.
    pub seconds: f32,
    /// Total optimiser steps of the schedule (training stops there).
    pub steps: u64,
    /// Stop this run after N steps (checkpoint + export) while keeping the `--steps` schedule; 0 = no limit.
    pub run_steps: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Step at which the learning-rate schedule (warm-up, then cosine decay to `steps`) starts: a warm
    /// restart when training resumes on new data; 0 = from the beginning.
    pub schedule_start: u64,
    /// Linear warm-up steps.
    pub warmup: u64,
    /// Final learning rate as a fraction of the peak (cosine decay).
    pub min_lr_ratio: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Global gradient-norm clipping threshold; 0 = adaptive (2× the running mean of recent norms,
    /// which only cuts spikes whatever the loss scale).
    pub clip_norm: f64,
    /// Seed of the initial weights and of the data stream.
    pub seed: u64,
    /// Log every N steps.
    pub log_every: u64,
    /// Validate every N steps.
    pub val_every: u64,
    /// Checkpoint every N steps.
    pub ckpt_every: u64,
    /// Store the AdamW moments as bf16 in checkpoints (19 MB instead of 29 MB; resume then only
    /// approximately equals an uninterrupted run).
    pub compact_ckpt: bool,
    /// Number of fixed dev examples used for validation.
    pub dev_examples: usize,
    /// A recorded dev set (`noisy/` and `clean/` files of the same names, e.g. dev v3) scored at every
    /// validation too; when given, the best weights are kept by its SI-SDR improvement.
    pub dev_pairs: Option<PathBuf>,
    /// Stop (checkpoint + export) after this many minutes of wall-clock time; 0 = no limit.
    pub max_minutes: f64,
    /// CPU threads for data mixing: the producers of training batches, each mixing whole batches
    /// (default: one per core but one, which the training thread keeps), and the pool that mixes
    /// validation sets (default: one per core).
    pub threads: Option<usize>,
    /// Git revision recorded in the export's provenance (default: `git rev-parse HEAD` if available).
    pub git_rev: Option<String>,
    /// Selective scan of the training forward: "fused" (one operation with its own backward, where it
    /// loads; else the tensor form, with a message) or "tensor" (the reference).
    pub scan: String,
    /// Upper end of the training SNR range in dB (the lower end is −5 dB).
    pub snr_max_db: f32,
    /// Share of training examples with no noise added (clean speech passes untouched).
    pub clean_prob: f64,
    /// Share of file-noise draws that take music (when the corpus has music).
    pub music_prob: f64,
    /// Share of training examples with reverberant speech (target = early reverb).
    pub reverb_prob: f64,
    /// Draw training speech by source, a source with probability ∝ its hours^E, then one of its clips
    /// (`None`: uniformly over clips, where sources of many short clips dominate).
    pub speech_source_exponent: Option<f64>,
    /// Share of training examples whose noise comes and goes in bursts and gaps of 0.1–1.5 s.
    pub bursty_noise_prob: f64,
    /// Share of training examples whose speech is played faster or slower (pitch and formants move
    /// with it: a voice the corpus does not have).
    pub speed_perturb_prob: f64,
    /// Largest relative speed change of that perturbation (0.15 = ×0.85 … ×1.15; at most 0.5).
    pub speed_perturb_max: f32,
    /// Weight of the LSNR term in the loss.
    pub lsnr_weight: f64,
    /// Validate and export an exponential moving average of the weights with this decay per step
    /// ([`ema`]); `None`: the raw weights.
    pub ema_decay: Option<f64>,
    /// Leave each example's spectrum above its speech clip's measured band out of the spectral losses.
    pub mask_loss_above_band: bool,
    /// Where batches are copied to the device: "producer" (the mixing thread, overlapping the step)
    /// or "main" (the training thread, before its step).
    pub upload: String,
    /// Measure instead of training: step time by phase at each of these batch sizes, for the tensor and
    /// the fused scan ([`bench`]); empty = train.
    pub bench_batches: Vec<usize>,
    /// Timed steps per batch size and scan in that measurement.
    pub bench_steps: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            corpus: "data/corpus".into(),
            ckpt_dir: "data/work/ckpt".into(),
            resume: None,
            auto_resume: false,
            export_dir: "models".into(),
            device: "auto".into(),
            batch: 32,
            seconds: 3.0,
            steps: 30_000,
            run_steps: 0,
            lr: 5e-4,
            schedule_start: 0,
            warmup: 500,
            min_lr_ratio: 0.05,
            weight_decay: 0.01,
            clip_norm: 0.0,
            seed: 42,
            log_every: 25,
            val_every: 500,
            ckpt_every: 500,
            compact_ckpt: false,
            dev_examples: 64,
            dev_pairs: None,
            max_minutes: 0.0,
            threads: None,
            git_rev: None,
            scan: "fused".into(),
            snr_max_db: 20.0,
            clean_prob: 0.0,
            music_prob: mix::MixConfig::new(1.0).music_prob,
            reverb_prob: mix::MixConfig::new(1.0).reverb_prob,
            speech_source_exponent: None,
            bursty_noise_prob: 0.0,
            speed_perturb_prob: mix::MixConfig::new(1.0).speed_perturb_prob,
            speed_perturb_max: mix::MixConfig::new(1.0).speed_perturb_max,
            lsnr_weight: 1e-2,
            ema_decay: None,
            mask_loss_above_band: false,
            upload: "producer".into(),
            bench_batches: Vec::new(),
            bench_steps: 20,
        }
    }
}

/// Trains (or resumes training) as configured by `cfg`.
pub fn run(cfg: TrainConfig) -> crate::Result<()> {
    cfg.check()?;
    memory::keep_freed_memory();
    trainer::run(cfg)
}

impl TrainConfig {
    /// Producer threads mixing training batches: `threads`, else one per core but one.
    pub fn producers(&self) -> usize {
        self.threads.unwrap_or_else(stream::default_producers)
    }

    /// Refuses settings the trainer cannot run with (a probability outside 0…1, an empty SNR range, a
    /// zero interval, a non-finite number), with the option's name, before anything is loaded: such a
    /// value would otherwise panic in a mixing thread or divide by zero mid-run.
    pub fn check(&self) -> crate::Result<()> {
        let probability = |name: &str, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(Error::Train(format!(
                    "--{name} must be within 0…1, not {p}"
                )))
            }
        };
        probability("clean-prob", self.clean_prob)?;
        probability("music-prob", self.music_prob)?;
        probability("reverb-prob", self.reverb_prob)?;
        probability("bursty-noise-prob", self.bursty_noise_prob)?;
        probability("speed-perturb-prob", self.speed_perturb_prob)?;
        // Up to ×0.5 … ×1.5: the perturbed segment is read as if recorded at 24…72 kHz.
        if !(0.0..=0.5).contains(&self.speed_perturb_max) {
            train_bail!(
                "--speed-perturb-max must be within 0…0.5, not {}",
                self.speed_perturb_max
            );
        }
        probability("min-lr-ratio", self.min_lr_ratio)?;
        let snr_min_db = mix::MixConfig::new(1.0).snr_db.0;
        if !(self.snr_max_db.is_finite() && self.snr_max_db > snr_min_db) {
            train_bail!(
                "--snr-max-db must be above the lower end of the SNR range ({snr_min_db} dB), not {}",
                self.snr_max_db
            );
        }
        for (name, v) in [
            ("lsnr-weight", self.lsnr_weight),
            ("max-minutes", self.max_minutes),
            ("weight-decay", self.weight_decay),
            ("clip-norm", self.clip_norm),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                train_bail!("--{name} must be a finite number >= 0, not {v}");
            }
        }
        if let Some(e) = self.speech_source_exponent {
            if !(0.0..=4.0).contains(&e) {
                train_bail!("--speech-source-exponent must be within 0…4, not {e}");
            }
        }
        if let Some(d) = self.ema_decay {
            if !(d > 0.0 && d < 1.0) {
                train_bail!("--ema-decay must be within (0, 1), not {d}");
            }
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            train_bail!("--lr must be a finite number above 0, not {}", self.lr);
        }
        if !(self.seconds.is_finite() && self.seconds > 0.0) {
            train_bail!(
                "--seconds must be a finite number above 0, not {}",
                self.seconds
            );
        }
        for (name, v) in [
            ("batch", self.batch as u64),
            ("dev-examples", self.dev_examples as u64),
            ("log-every", self.log_every),
            ("val-every", self.val_every),
            ("ckpt-every", self.ckpt_every),
        ] {
            if v == 0 {
                train_bail!("--{name} must be at least 1");
            }
        }
        Ok(())
    }
}

/// Context for the trainer's errors: any error (or a missing value) becomes [`Error::Train`] with a
/// message that says what was being done.
pub(crate) trait TrainContext<T> {
    /// Maps the error to [`Error::Train`]`("{what}: {error}")`.
    fn ctx(self, what: impl FnOnce() -> String) -> crate::Result<T>;
}

impl<T, E: std::fmt::Display> TrainContext<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> crate::Result<T> {
        self.map_err(|e| Error::Train(format!("{}: {e}", what())))
    }
}

impl<T> TrainContext<T> for Option<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> crate::Result<T> {
        self.ok_or_else(|| Error::Train(what()))
    }
}

/// Returns early with [`Error::Train`] and a formatted message.
macro_rules! train_bail {
    ($($arg:tt)*) => {
        return Err(crate::Error::Train(format!($($arg)*)))
    };
}
pub(crate) use train_bail;
