//! The result of a `dfn4 bench` run as data: what was measured, on what, with which model, and the
//! numbers. This is the JSON schema of `--output`; the tables and the plot are rendered from it.
use serde::{Deserialize, Serialize};

use super::stats::Stats;
use super::system::Environment;
use crate::config::ModelConfig;

/// A whole bench run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Machine and build.
    pub environment: Environment,
    /// What was asked for.
    pub settings: Settings,
    /// Which weights ran.
    pub model: ModelInfo,
    /// The backend speedups are relative to (the first one measured).
    pub baseline: String,
    /// Results per backend, in the order requested.
    pub backends: Vec<BackendReport>,
}

/// The measurement settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Batch sizes of the offline (and training) runs.
    pub batch_sizes: Vec<usize>,
    /// Frames per sequence (and per streaming/pipeline run).
    pub seq_length_frames: usize,
    /// Untimed iterations before each configuration.
    pub num_warmup: usize,
    /// Timed iterations per configuration.
    pub num_runs: usize,
    /// Worker threads for batch work.
    pub threads: usize,
    /// Whether training steps were requested.
    pub train_step: bool,
    /// Audio per frame in milliseconds.
    pub hop_ms: f64,
    /// Sample rate of the signal path in Hz.
    pub sample_rate_hz: usize,
}

/// The weights that ran. Speed does not depend on trained values, only on the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// "file", "embedded" or "random".
    pub source: String,
    /// The `--model` path, for source "file".
    pub path: Option<String>,
    /// The seed of random weights, for source "random".
    pub seed: Option<u64>,
    /// Number of parameters.
    pub parameters: usize,
    /// The network hyper-parameters.
    pub config: ModelConfig,
}

/// Resident memory of one configuration, from `/proc/self/status`, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// RSS before the configuration allocated anything.
    pub rss_before_kib: u64,
    /// RSS after its last timed iteration (its buffers still held).
    pub rss_after_kib: u64,
    /// Peak RSS during the configuration (VmHWM).
    pub peak_rss_kib: u64,
    /// Peak minus before: the memory this configuration added. Freed memory the allocator reuses from an
    /// earlier configuration does not count again.
    pub peak_delta_kib: u64,
    /// Whether the peak was reset at the start of the configuration; if not, the peak is the process's.
    pub peak_reset: bool,
}

/// One timed configuration of batch work (an offline sequence or a training step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResult {
    /// Streams.
    pub batch: usize,
    /// Frames per stream.
    pub frames: usize,
    /// Audio processed per iteration, all streams: `batch · frames · hop`.
    pub audio_s: f64,
    /// Wall time per iteration.
    pub latency_ms: Stats,
    /// Real-time factor: median compute time / audio time.
    pub rtf: f64,
    /// Audio seconds processed per wall second (median).
    pub throughput_audio_s_per_s: f64,
    /// Samples (48 kHz, all streams) processed per wall second (median).
    pub throughput_samples_per_s: f64,
    /// Baseline backend's median / this median at the same batch size (None if the baseline lacks it).
    pub speedup_vs_baseline: Option<f64>,
    /// Memory of this configuration (None without `/proc`).
    pub memory: Option<Memory>,
}

/// One timed single-stream configuration, one 10 ms hop per sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameResult {
    /// Always 1: one real-time stream.
    pub batch: usize,
    /// Frames per run (the state is reset between runs).
    pub frames_per_run: usize,
    /// Audio per hop.
    pub hop_ms: f64,
    /// Wall time per hop.
    pub latency_ms: Stats,
    /// Median hop time / hop duration.
    pub rtf: f64,
    /// Audio seconds per wall second (median).
    pub throughput_audio_s_per_s: f64,
    /// Samples per wall second (median).
    pub throughput_samples_per_s: f64,
    /// Memory of this configuration.
    pub memory: Option<Memory>,
}

/// Training-step results, or why there are none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Whether this backend can train.
    pub available: bool,
    /// Why not, when it cannot.
    pub reason: Option<String>,
    /// One entry per batch size, when it can.
    pub results: Vec<BatchResult>,
}

/// All results of one backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendReport {
    /// Backend name.
    pub name: String,
    /// `run_sequence` on batches of streams.
    pub offline: Vec<BatchResult>,
    /// `step` per hop on one stream.
    pub streaming: FrameResult,
    /// `Denoiser::process_frame` per hop on one stream (DSP + model): what a real-time path pays.
    pub pipeline: FrameResult,
    /// `Denoiser::process_block` on one stream in blocks of
    /// [`crate::enhance::DENOISE_BLOCK_HOPS`] hops, per hop (one sample per block): what `enhance`
    /// pays.
    pub block_pipeline: FrameResult,
    /// Forward + backward per batch (None when `--train-step` was not given).
    pub train_step: Option<TrainReport>,
}
