//! `dfn4 train` (feature `train`): the command-line options of the trainer, mapped onto
//! [`dfn4::train::TrainConfig`]. The standalone trainer (`examples/train.rs`) uses the same options.
use std::path::PathBuf;

use dfn4::train::TrainConfig;

/// Options of `dfn4 train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Corpus directory holding `manifest.json`.
    #[arg(long, default_value = "data/corpus")]
    pub corpus: PathBuf,
    /// Directory for checkpoints (`<dir>/latest`) and the training log.
    #[arg(long, default_value = "data/work/ckpt")]
    pub ckpt_dir: PathBuf,
    /// Resume from this checkpoint directory (e.g. `data/work/ckpt/latest`).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Resume from `<ckpt-dir>/latest` when it exists (for chained runs with one command line).
    #[arg(long)]
    pub auto_resume: bool,
    /// Where `dfn4.safetensors` and `dfn4.json` are exported at the end of each run.
    #[arg(long, default_value = "models")]
    pub export_dir: PathBuf,
    /// Device: auto, cpu, cuda, cuda:N, mps.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Examples per step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Segment length in seconds.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f32,
    /// Total optimiser steps of the schedule (training stops there).
    #[arg(long, default_value_t = 30_000)]
    pub steps: u64,
    /// Stop this run after N steps (checkpoint + export) while keeping the `--steps` schedule; 0 = no limit.
    #[arg(long, default_value_t = 0)]
    pub run_steps: u64,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    /// Step at which the learning-rate schedule (warm-up, then cosine decay to --steps) starts: a
    /// warm restart when training resumes on new data; 0 = from the beginning.
    #[arg(long, default_value_t = 0)]
    pub schedule_start: u64,
    /// Linear warm-up steps.
    #[arg(long, default_value_t = 500)]
    pub warmup: u64,
    /// Final learning rate as a fraction of the peak (cosine decay).
    #[arg(long, default_value_t = 0.05)]
    pub min_lr_ratio: f64,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Global gradient-norm clipping threshold; 0 = adaptive (2× the running mean of recent norms,
    /// which only cuts spikes whatever the loss scale).
    #[arg(long, default_value_t = 0.0)]
    pub clip_norm: f64,
    /// Seed of the initial weights and of the data stream.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Log every N steps.
    #[arg(long, default_value_t = 25)]
    pub log_every: u64,
    /// Validate every N steps.
    #[arg(long, default_value_t = 500)]
    pub val_every: u64,
    /// Checkpoint every N steps.
    #[arg(long, default_value_t = 500)]
    pub ckpt_every: u64,
    /// Store the AdamW moments as bf16 in checkpoints (19 MB instead of 29 MB; resume then only
    /// approximately equals an uninterrupted run).
    #[arg(long)]
    pub compact_ckpt: bool,
    /// Number of fixed dev examples used for validation.
    #[arg(long, default_value_t = 64)]
    pub dev_examples: usize,
    /// A recorded dev set scored at every validation too (`noisy/` and `clean/` audio files of the same
    /// names, e.g. data/devset_v3); when given, the best weights (`<ckpt-dir>/best`) are kept by its SI-SDR
    /// improvement instead of the mixed dev examples'.
    #[arg(long, value_name = "DIR")]
    pub dev_pairs: Option<PathBuf>,
    /// Stop (checkpoint + export) after this many minutes of wall-clock time; 0 = no limit.
    #[arg(long, default_value_t = 0.0)]
    pub max_minutes: f64,
    /// CPU threads for data mixing: the producers of training batches, each mixing whole batches
    /// (default: one per core but one, which the training thread keeps), and the pool that mixes
    /// validation sets (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Git revision recorded in the export's provenance (default: `git rev-parse HEAD` if available).
    #[arg(long)]
    pub git_rev: Option<String>,
    /// Selective scan of the training forward: fused (one operation with its own backward; the tensor
    /// form where it cannot load) or tensor (the reference).
    #[arg(long, default_value = "fused", value_parser = ["fused", "tensor"])]
    pub scan: String,
    /// Upper end of the training SNR range in dB (the lower end is -5 dB).
    #[arg(long, default_value_t = 20.0)]
    pub snr_max_db: f32,
    /// Share of training examples with no noise added, so that clean speech learns to pass untouched.
    #[arg(long, default_value_t = 0.0)]
    pub clean_prob: f64,
    /// Share of file-noise draws that take music instead of recorded noise (when the corpus has music).
    #[arg(long, default_value_t = 0.35)]
    pub music_prob: f64,
    /// Share of training examples whose speech is reverberant (the target keeps the early reverb).
    #[arg(long, default_value_t = 0.3)]
    pub reverb_prob: f64,
    /// Draw training speech by source: a source with probability proportional to its hours to the power E
    /// (0…4; 1 = by hours, 0 = every source alike, 0.5 between), then one of its clips. Without it clips are
    /// drawn uniformly, so sources of many short clips dominate (in corpus v3, 38 % of draws are one
    /// package's ~1 s stamp descriptions)
    #[arg(long, value_name = "E")]
    pub speech_source_exponent: Option<f64>,
    /// Share of training examples whose noise comes and goes in bursts and gaps of 0.1-1.5 s (during a
    /// burst the SNR is the drawn one), so that clean stretches follow noisy ones within an example.
    #[arg(long, default_value_t = 0.0)]
    pub bursty_noise_prob: f64,
    /// Share of training examples whose speech is played faster or slower, pitch and formants moving
    /// with it, so that the model meets voices the corpus does not have.
    #[arg(long, default_value_t = 0.5)]
    pub speed_perturb_prob: f64,
    /// Largest relative speed change of that perturbation (0.15 = x0.85 ... x1.15; at most 0.5).
    #[arg(long, default_value_t = 0.15)]
    pub speed_perturb_max: f32,
    /// Weight of the LSNR head's term in the loss (0.01 is about 3 % of the total); the head is what
    /// libDF's LSNR gates read (`examples/lsnr_error` measures it on a dev set).
    #[arg(long, default_value_t = 0.01)]
    pub lsnr_weight: f64,
    /// Validate and export an exponential moving average of the weights, decaying by D per step (e.g.
    /// 0.999: about the last 1,000 steps); checkpoints keep the raw weights, and a resumed run starts the
    /// average afresh from them.
    #[arg(long, value_name = "D")]
    pub ema_decay: Option<f64>,
    /// Leave each example's spectrum above its speech clip's measured bandwidth out of the spectral
    /// losses, so that band-limited recordings (16 and 11 kHz voices) teach their band without teaching the
    /// model to remove what lies above it.
    #[arg(long)]
    pub mask_loss_above_band: bool,
    /// Where batches are copied to the device: producer (the mixing thread, pinned and asynchronous
    /// on CUDA, overlapping the step) or main (the training thread, before each step).
    #[arg(long, default_value = "producer", value_parser = ["producer", "main"])]
    pub upload: String,
    /// Measure instead of training: time by phase of one step at each batch size, tensor and fused
    /// scan, as JSON lines (e.g. --bench-batches 32 64 128 256).
    #[arg(long, num_args = 1..)]
    pub bench_batches: Vec<usize>,
    /// Timed steps per batch size and scan in that measurement.
    #[arg(long, default_value_t = 20)]
    pub bench_steps: u64,
}

impl From<TrainArgs> for TrainConfig {
    fn from(a: TrainArgs) -> Self {
        Self {
            corpus: a.corpus,
            ckpt_dir: a.ckpt_dir,
            resume: a.resume,
            auto_resume: a.auto_resume,
            export_dir: a.export_dir,
            device: a.device,
            batch: a.batch,
            seconds: a.seconds,
            steps: a.steps,
            run_steps: a.run_steps,
            lr: a.lr,
            schedule_start: a.schedule_start,
            warmup: a.warmup,
            min_lr_ratio: a.min_lr_ratio,
            weight_decay: a.weight_decay,
            clip_norm: a.clip_norm,
            seed: a.seed,
            log_every: a.log_every,
            val_every: a.val_every,
            ckpt_every: a.ckpt_every,
            compact_ckpt: a.compact_ckpt,
            dev_examples: a.dev_examples,
            dev_pairs: a.dev_pairs,
            max_minutes: a.max_minutes,
            threads: a.threads,
            git_rev: a.git_rev,
            scan: a.scan,
            upload: a.upload,
            snr_max_db: a.snr_max_db,
            clean_prob: a.clean_prob,
            music_prob: a.music_prob,
            reverb_prob: a.reverb_prob,
            speech_source_exponent: a.speech_source_exponent,
            bursty_noise_prob: a.bursty_noise_prob,
            speed_perturb_prob: a.speed_perturb_prob,
            speed_perturb_max: a.speed_perturb_max,
            lsnr_weight: a.lsnr_weight,
            ema_decay: a.ema_decay,
            mask_loss_above_band: a.mask_loss_above_band,
            bench_batches: a.bench_batches,
            bench_steps: a.bench_steps,
        }
    }
}

/// Runs `dfn4 train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    Ok(dfn4::train::run(args.into())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TrainArgs,
    }

    #[test]
    fn defaults_are_the_library_defaults() {
        let parsed: TrainConfig = Cli::parse_from(["train"]).args.into();
        assert_eq!(parsed, TrainConfig::default());
    }
}
