//! The backend boundary: [`Backend`] runs DfNet4 on plain `f32` features, one frame (`step`), a block
//! of consecutive frames with the state carried (`step_block`) or a whole sequence (`run_sequence`). DSP and streaming code never see a backend's tensor type.
//!
//! Layouts (row-major, batch outermost):
//! - ERB features: `[B, NB_ERB]` per frame, `[B, T, NB_ERB]` per sequence.
//! - Complex features: `[B, 2, NB_DF]` per frame (all real parts, then all imaginary parts),
//!   `[B, T, 2, NB_DF]` per sequence.
//! - ERB gains in [0, 1]: `[B, NB_ERB]` / `[B, T, NB_ERB]`.
//! - DF coefficients: `[B, NB_DF, DF_ORDER, 2]` / `[B, T, NB_DF, DF_ORDER, 2]` (re, im last).
//! - LSNR in dB: `[B]` / `[B, T]`.
use crate::config::ModelConfig;
use crate::stage::Stage;
use crate::{Error, Result};

#[cfg(feature = "mlx")]
pub mod mlx;
pub mod native;
pub mod registry;
#[cfg(feature = "tch")]
pub mod tch;

pub use registry::{default_backend, AnyBackend, AnyState, ModelSource};

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
    /// [`Backend::step`], calling `probe` at the end of each [`Stage`] it can tell apart (profiling).
    /// The default reports the whole step as [`Stage::Model`]; the native engine reports its layers.
    fn step_probed(
        &self,
        feats: &Features,
        state: &mut Self::State,
        out: &mut ModelOutput,
        probe: &mut dyn FnMut(Stage),
    ) -> Result<()> {
        self.step(feats, state, out)?;
        probe(Stage::Model);
        Ok(())
    }
    /// A whole sequence from a fresh state; must equal `frames` calls of [`Backend::step`].
    fn run_sequence(&self, feats: &SeqFeatures, out: &mut SeqModelOutput) -> Result<()>;
    /// `feats.frames` consecutive frames of one stream, continuing from `state` (a state of batch 1)
    /// and leaving it after the last frame: must equal `frames` calls of [`Backend::step`] (within
    /// the tolerance of `step` against [`Backend::run_sequence`]). The offline path's model call: a
    /// backend that reads its weights once per call (the native engine) makes a block of frames
    /// cheaper per frame than single steps.
    ///
    /// The default loops over [`Backend::step`] and allocates one frame of input and output per
    /// call; the native engine overrides it and does not allocate once [`Backend::reserve_block`]
    /// has sized `state` for the block.
    fn step_block(
        &self,
        feats: &SeqFeatures,
        state: &mut Self::State,
        out: &mut SeqModelOutput,
    ) -> Result<()> {
        check_block(self.config(), feats, out)?;
        let cfg = self.config();
        let (e, s, c) = (cfg.nb_erb, 2 * cfg.nb_df, cfg.df_out_dim());
        let mut frame = Features::zeros(cfg, 1);
        let mut frame_out = ModelOutput::zeros(cfg, 1);
        for t in 0..feats.frames {
            frame.erb.copy_from_slice(&feats.erb[t * e..][..e]);
            frame.spec.copy_from_slice(&feats.spec[t * s..][..s]);
            self.step(&frame, state, &mut frame_out)?;
            out.gains[t * e..][..e].copy_from_slice(&frame_out.gains);
            out.coefs[t * c..][..c].copy_from_slice(&frame_out.coefs);
            out.lsnr_db[t] = frame_out.lsnr_db[0];
        }
        Ok(())
    }
    /// Makes [`Backend::step_block`] calls of up to `frames` frames on `state` allocation-free
    /// (allocates what they need now). The default has nothing to prepare.
    fn reserve_block(&self, state: &mut Self::State, frames: usize) -> Result<()> {
        let _ = (state, frames);
        Ok(())
    }
}

fn check_len(what: &str, found: usize, expected: usize) -> Result<()> {
    if found == expected {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{what} has {found} values, expected {expected}"
        )))
    }
}

/// The one input check of [`Backend::step`], shared by every backend: the batch of the features, the
/// state and the output agree, and every buffer has the length `cfg` gives it.
pub fn check_step(
    cfg: &ModelConfig,
    feats: &Features,
    state_batch: usize,
    out: &ModelOutput,
) -> Result<()> {
    let b = feats.batch;
    if b != state_batch || out.batch != b {
        return Err(Error::InvalidInput(format!(
            "batch mismatch: features {b}, state {state_batch}, output {}",
            out.batch
        )));
    }
    check_len("erb features", feats.erb.len(), b * cfg.nb_erb)?;
    check_len("complex features", feats.spec.len(), b * 2 * cfg.nb_df)?;
    check_len("gains", out.gains.len(), b * cfg.nb_erb)?;
    check_len("coefs", out.coefs.len(), b * cfg.df_out_dim())?;
    check_len("lsnr", out.lsnr_db.len(), b)
}

/// The lengths of sequence features: `[B, T, NB_ERB]` and `[B, T, 2, NB_DF]`.
pub fn check_sequence_features(cfg: &ModelConfig, feats: &SeqFeatures) -> Result<()> {
    let (b, t) = (feats.batch, feats.frames);
    check_len("erb features", feats.erb.len(), b * t * cfg.nb_erb)?;
    check_len("complex features", feats.spec.len(), b * t * 2 * cfg.nb_df)
}

/// The one input check of [`Backend::run_sequence`], shared by every backend: features and output have
/// the same `[batch, frames]`, and every buffer has the length `cfg` gives it.
pub fn check_sequence(cfg: &ModelConfig, feats: &SeqFeatures, out: &SeqModelOutput) -> Result<()> {
    let (b, t) = (feats.batch, feats.frames);
    if out.batch != b || out.frames != t {
        return Err(Error::InvalidInput(format!(
            "output is [{}, {}], features are [{b}, {t}]",
            out.batch, out.frames
        )));
    }
    check_sequence_features(cfg, feats)?;
    check_len("gains", out.gains.len(), b * t * cfg.nb_erb)?;
    check_len("coefs", out.coefs.len(), b * t * cfg.df_out_dim())?;
    check_len("lsnr", out.lsnr_db.len(), b * t)
}

/// The input check of [`Backend::step_block`]: one stream, and [`check_sequence`]'s shapes.
pub fn check_block(cfg: &ModelConfig, feats: &SeqFeatures, out: &SeqModelOutput) -> Result<()> {
    if feats.batch != 1 {
        return Err(Error::InvalidInput(format!(
            "a block is one stream, the features have {}",
            feats.batch
        )));
    }
    check_sequence(cfg, feats, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_the_wrong_buffer() {
        let cfg = ModelConfig::default();
        let feats = Features::zeros(&cfg, 2);
        let mut out = ModelOutput::zeros(&cfg, 2);
        check_step(&cfg, &feats, 2, &out).unwrap();
        let err = check_step(&cfg, &feats, 1, &out).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid input: batch mismatch: features 2, state 1, output 2"
        );
        out.coefs.pop();
        let err = check_step(&cfg, &feats, 2, &out).unwrap_err().to_string();
        assert!(err.contains("coefs has"), "{err}");

        let feats = SeqFeatures::zeros(&cfg, 2, 3);
        let mut out = SeqModelOutput::zeros(&cfg, 2, 3);
        check_sequence(&cfg, &feats, &out).unwrap();
        out.frames = 4;
        let err = check_sequence(&cfg, &feats, &out).unwrap_err().to_string();
        assert!(
            err.contains("output is [2, 4], features are [2, 3]"),
            "{err}"
        );
    }
}
