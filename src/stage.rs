//! The stages of one 10 ms hop, named for profiling: the denoiser's DSP around the model and the native
//! engine's layers. [`crate::denoiser::Denoiser::process_frame_probed`] and
//! [`crate::backend::Backend::step_probed`] call a probe at the end of each stage; `dfn4 bench
//! --profile` times the gaps between the calls.

/// One stage of a hop. Each is reported when it ends, so the time since the previous report is its
/// cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Input repair, STFT analysis, the spectrum history ring, ERB and complex features.
    Analysis,
    /// The encoder's ERB and complex convolutions (frame by frame).
    EncoderConvs,
    /// The encoder's dense fusion of both paths into the model width.
    EncoderFusion,
    /// RMS norm and `in_proj` of Mamba layer `n`.
    InProj(usize),
    /// The causal depthwise convolution over time and SiLU of Mamba layer `n`.
    Conv(usize),
    /// `x_proj`, `dt_proj` and softplus of Mamba layer `n`.
    XDtProj(usize),
    /// The selective scan and the SiLU gate of Mamba layer `n`.
    ScanGate(usize),
    /// `out_proj` (and the residual) of Mamba layer `n`.
    OutProj(usize),
    /// The norm after the last Mamba layer.
    FinalNorm,
    /// The ERB decoder: its dense layer and transposed convolutions to 32 gains.
    ErbDecoder,
    /// The deep-filter decoder: dense layers and the complex skip path to the filter coefficients.
    DfDecoder,
    /// The LSNR head.
    Lsnr,
    /// A backend without per-layer probes: the whole model step.
    Model,
    /// ERB gains, the deep filter, LSNR gates and the attenuation limit.
    DeepFilter,
    /// Inverse FFT and overlap-add.
    Synthesis,
}

impl Stage {
    /// A short name for tables (`layer 2 scan + gate`).
    pub fn label(self) -> String {
        match self {
            Self::Analysis => "DSP: analysis + features".into(),
            Self::EncoderConvs => "encoder convolutions".into(),
            Self::EncoderFusion => "encoder fusion (dense)".into(),
            Self::InProj(l) => format!("mamba {l}: norm + in_proj"),
            Self::Conv(l) => format!("mamba {l}: conv + SiLU"),
            Self::XDtProj(l) => format!("mamba {l}: x_proj + dt_proj"),
            Self::ScanGate(l) => format!("mamba {l}: scan + gate"),
            Self::OutProj(l) => format!("mamba {l}: out_proj"),
            Self::FinalNorm => "final norm".into(),
            Self::ErbDecoder => "ERB decoder".into(),
            Self::DfDecoder => "DF decoder".into(),
            Self::Lsnr => "LSNR head".into(),
            Self::Model => "model step".into(),
            Self::DeepFilter => "DSP: deep filter + gains".into(),
            Self::Synthesis => "DSP: synthesis".into(),
        }
    }

    /// The stage with the Mamba layer index dropped (`mamba: scan + gate`), to sum a kind over layers.
    pub fn kind(self) -> Self {
        match self {
            Self::InProj(_) => Self::InProj(usize::MAX),
            Self::Conv(_) => Self::Conv(usize::MAX),
            Self::XDtProj(_) => Self::XDtProj(usize::MAX),
            Self::ScanGate(_) => Self::ScanGate(usize::MAX),
            Self::OutProj(_) => Self::OutProj(usize::MAX),
            other => other,
        }
    }

    /// [`Stage::label`] of a [`Stage::kind`]: `all mamba layers: scan + gate`.
    pub fn kind_label(self) -> String {
        match self.kind() {
            Self::InProj(_) => "all mamba layers: norm + in_proj".into(),
            Self::Conv(_) => "all mamba layers: conv + SiLU".into(),
            Self::XDtProj(_) => "all mamba layers: x_proj + dt_proj".into(),
            Self::ScanGate(_) => "all mamba layers: scan + gate".into(),
            Self::OutProj(_) => "all mamba layers: out_proj".into(),
            other => other.label(),
        }
    }
}
