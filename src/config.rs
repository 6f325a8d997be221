//! Signal-path constants (libDF-compatible) and the serialisable [`ModelConfig`] stored beside the weights.
use serde::{Deserialize, Serialize};

/// Sample rate of the signal path in Hz.
pub const SAMPLE_RATE_HZ: usize = 48_000;
/// FFT size in samples (20 ms).
pub const FFT_SIZE: usize = 960;
/// Hop size in samples (10 ms): one frame in, one frame out.
pub const HOP_SIZE: usize = 480;
/// Number of frequency bins of the one-sided spectrum.
pub const NB_FREQS: usize = FFT_SIZE / 2 + 1;
/// Number of ERB bands.
pub const NB_ERB: usize = 32;
/// Minimum number of FFT bins in one ERB band.
pub const MIN_NB_ERB_FREQS: usize = 2;
/// Number of low-frequency bins processed by the deep filter.
pub const NB_DF: usize = 96;
/// Deep-filter order (taps over frames).
pub const DF_ORDER: usize = 5;
/// Deep-filter / model lookahead in frames.
pub const DF_LOOKAHEAD: usize = 1;
/// Time constant of the running feature normalisation in seconds.
pub const NORM_TAU_S: f32 = 1.0;
/// Lower bound of the local SNR estimate in dB.
pub const LSNR_MIN_DB: f32 = -15.0;
/// Upper bound of the local SNR estimate in dB.
pub const LSNR_MAX_DB: f32 = 35.0;

/// Network hyper-parameters of DfNet4. Stored as JSON next to the safetensors weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Number of ERB bands of the input features and gains.
    pub nb_erb: usize,
    /// Number of deep-filter bins.
    pub nb_df: usize,
    /// Deep-filter order.
    pub df_order: usize,
    /// Model / deep-filter lookahead in frames.
    pub df_lookahead: usize,
    /// Channels of the convolutional encoders and the ERB decoder.
    pub conv_ch: usize,
    /// Width of the Mamba stack.
    pub d_model: usize,
    /// Number of Mamba blocks.
    pub n_layers: usize,
    /// SSM state size per channel.
    pub d_state: usize,
    /// Width of the causal depthwise convolution in each Mamba block.
    pub d_conv: usize,
    /// Expansion factor: `d_inner = expand * d_model`.
    pub expand: usize,
    /// Rank of the time-step projection.
    pub dt_rank: usize,
    /// Hidden width of the DF decoder.
    pub df_hidden: usize,
    /// Epsilon of the RMS norms.
    pub norm_eps: f32,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            nb_erb: NB_ERB,
            nb_df: NB_DF,
            df_order: DF_ORDER,
            df_lookahead: DF_LOOKAHEAD,
            conv_ch: 32,
            d_model: 256,
            n_layers: 4,
            d_state: 16,
            d_conv: 4,
            expand: 2,
            dt_rank: 16,
            df_hidden: 256,
            norm_eps: 1e-5,
        }
    }
}

impl ModelConfig {
    /// Inner width of a Mamba block.
    pub fn d_inner(&self) -> usize {
        self.expand * self.d_model
    }
    /// ERB bands after the two stride-2 encoder convolutions.
    pub fn erb_enc_bands(&self) -> usize {
        self.nb_erb / 4
    }
    /// DF bins after the two stride-2 encoder convolutions.
    pub fn df_enc_bins(&self) -> usize {
        self.nb_df / 4
    }
    /// Width of the concatenated encoder output fed to the fusion layer.
    pub fn enc_concat_dim(&self) -> usize {
        self.conv_ch * (self.erb_enc_bands() + self.df_enc_bins())
    }
    /// Number of real outputs of the DF decoder: `nb_df * df_order * 2`.
    pub fn df_out_dim(&self) -> usize {
        self.nb_df * self.df_order * 2
    }
    /// Checks the invariants the network definition relies on.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: &str| Err(crate::Error::Config(m.to_string()));
        if !self.nb_erb.is_multiple_of(4) || !self.nb_df.is_multiple_of(4) {
            return bad("nb_erb and nb_df must be multiples of 4 (two stride-2 convolutions)");
        }
        if self.df_lookahead >= self.df_order {
            return bad("df_lookahead must be smaller than df_order");
        }
        if self.df_lookahead > 1 {
            return bad("df_lookahead must be at most 1 frame");
        }
        if self.d_conv == 0 || self.d_state == 0 || self.n_layers == 0 || self.dt_rank == 0 {
            return bad("d_conv, d_state, n_layers and dt_rank must be positive");
        }
        if self.nb_erb != NB_ERB || self.nb_df != NB_DF {
            return bad("nb_erb and nb_df must match the signal path (32 and 96)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_derives_sizes() {
        let c = ModelConfig::default();
        c.validate().unwrap();
        assert_eq!(c.d_inner(), 512);
        assert_eq!(c.enc_concat_dim(), 32 * (8 + 24));
        assert_eq!(c.df_out_dim(), 960);
        assert_eq!(NB_FREQS, 481);
    }

    #[test]
    fn rejects_long_lookahead() {
        let c = ModelConfig {
            df_lookahead: 2,
            ..ModelConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
