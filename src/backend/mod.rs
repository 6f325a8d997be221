//! The backend boundary: [`Backend`] runs DfNet4 on plain `f32` features, one frame (`step`) or a whole
//! sequence (`run_sequence`). DSP and streaming code never see a backend's tensor type.
//!
//! Layouts (row-major, batch outermost):
//! - ERB features: `[B, NB_ERB]` per frame, `[B, T, NB_ERB]` per sequence.
//! - Complex features: `[B, 2, NB_DF]` per frame (all real parts, then all imaginary parts),
//!   `[B, T, 2, NB_DF]` per sequence.
//! - ERB gains in [0, 1]: `[B, NB_ERB]` / `[B, T, NB_ERB]`.
//! - DF coefficients: `[B, NB_DF, DF_ORDER, 2]` / `[B, T, NB_DF, DF_ORDER, 2]` (re, im last).
//! - LSNR in dB: `[B]` / `[B, T]`.
use crate::config::ModelConfig;
use crate::Result;

#[cfg(feature = "mlx")]
pub mod mlx;
pub mod native;
#[cfg(feature = "tch")]
pub mod tch;

/// Model input for one frame of `batch` independent streams.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Number of streams.
    pub batch: usize,
    /// Normalised ERB features, `[B, NB_ERB]`.
    pub erb: Vec<f32>,
    /// Unit-normalised complex features, `[B, 2, NB_DF]`.
    pub spec: Vec<f32>,
}

impl Features {
    /// Zeroed features for `batch` streams.
    pub fn zeros(cfg: &ModelConfig, batch: usize) -> Self {
        Self {
            batch,
            erb: vec![0.0; batch * cfg.nb_erb],
            spec: vec![0.0; batch * 2 * cfg.nb_df],
        }
    }
}

/// Model output for one frame of `batch` streams.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutput {
    /// Number of streams.
    pub batch: usize,
    /// ERB gains, `[B, NB_ERB]`.
    pub gains: Vec<f32>,
    /// DF coefficients, `[B, NB_DF, DF_ORDER, 2]`.
    pub coefs: Vec<f32>,
    /// Local SNR estimate in dB, `[B]`.
    pub lsnr_db: Vec<f32>,
}

impl ModelOutput {
    /// Zeroed output for `batch` streams.
    pub fn zeros(cfg: &ModelConfig, batch: usize) -> Self {
        Self {
            batch,
            gains: vec![0.0; batch * cfg.nb_erb],
            coefs: vec![0.0; batch * cfg.df_out_dim()],
            lsnr_db: vec![0.0; batch],
        }
    }
}

/// Model input for `frames` frames of `batch` streams.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqFeatures {
    /// Number of streams.
    pub batch: usize,
    /// Number of frames.
    pub frames: usize,
    /// `[B, T, NB_ERB]`.
    pub erb: Vec<f32>,
    /// `[B, T, 2, NB_DF]`.
    pub spec: Vec<f32>,
}

impl SeqFeatures {
    /// Zeroed sequence features.
    pub fn zeros(cfg: &ModelConfig, batch: usize, frames: usize) -> Self {
        Self {
            batch,
            frames,
            erb: vec![0.0; batch * frames * cfg.nb_erb],
            spec: vec![0.0; batch * frames * 2 * cfg.nb_df],
        }
    }
}

/// Model output for `frames` frames of `batch` streams.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqModelOutput {
    /// Number of streams.
    pub batch: usize,
    /// Number of frames.
    pub frames: usize,
    /// `[B, T, NB_ERB]`.
    pub gains: Vec<f32>,
    /// `[B, T, NB_DF, DF_ORDER, 2]`.
    pub coefs: Vec<f32>,
    /// `[B, T]`.
    pub lsnr_db: Vec<f32>,
}

impl SeqModelOutput {
    /// Zeroed sequence output.
    pub fn zeros(cfg: &ModelConfig, batch: usize, frames: usize) -> Self {
        Self {
            batch,
            frames,
            gains: vec![0.0; batch * frames * cfg.nb_erb],
            coefs: vec![0.0; batch * frames * cfg.df_out_dim()],
            lsnr_db: vec![0.0; batch * frames],
        }
    }
}

/// A DfNet4 inference engine. Weights are immutable and shared; all recurrent memory (Mamba conv ring and
/// SSM state) lives in [`Backend::State`], one per batch of streams.
pub trait Backend {
    /// Recurrent state of `batch` streams.
    type State: Send;
    /// Short name: "native", "tch-cpu", "tch-cuda", "mlx-cpu", ...
    fn name(&self) -> &'static str;
    /// The network hyper-parameters.
    fn config(&self) -> &ModelConfig;
    /// Fresh (zeroed) state for `batch` streams.
    fn new_state(&self, batch: usize) -> Result<Self::State>;
    /// Resets `state` to the fresh state without reallocating.
    fn reset_state(&self, state: &mut Self::State);
    /// One frame for every stream of the batch; `out` must be sized for `feats.batch`.
    /// Must not allocate on the native backend (it is called from real-time code).
    fn step(&self, feats: &Features, state: &mut Self::State, out: &mut ModelOutput) -> Result<()>;
    /// A whole sequence from a fresh state; must equal `frames` calls of [`Backend::step`].
    fn run_sequence(&self, feats: &SeqFeatures, out: &mut SeqModelOutput) -> Result<()>;
}
