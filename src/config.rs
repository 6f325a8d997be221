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

/// Lowest sample rate any front end accepts (Hz). Speech needs a few kHz of bandwidth and telephony's
/// 8 kHz is the lowest rate in use; 1 kHz leaves room for test signals while keeping the resamplers' and
/// the file reader's blocks (one second of audio) small.
pub const MIN_SAMPLE_RATE_HZ: u32 = 1_000;
/// Highest sample rate any front end accepts (Hz): 768 kHz is the top rate of current audio interfaces
/// (16 × 48 kHz); beyond it a header is hostile rather than audio.
pub const MAX_SAMPLE_RATE_HZ: u32 = 768_000;
/// Most channels any front end accepts: 256 covers every multichannel layout in use (15th-order
/// ambisonics has 256). Each channel owns a denoiser and two resamplers, built up front, so the bound
/// keeps that memory to tens of MiB; a header claiming 32,767 channels is refused instead.
pub const MAX_CHANNELS: usize = 256;

/// Checks a sample rate against [`MIN_SAMPLE_RATE_HZ`]..=[`MAX_SAMPLE_RATE_HZ`]; every front end calls
/// this (directly or through the resampler, the WAV reader or [`check_format`]) before allocating anything
/// that depends on the rate.
pub fn check_sample_rate(rate_hz: u32) -> crate::Result<()> {
    if (MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&rate_hz) {
        Ok(())
    } else {
        Err(crate::Error::UnsupportedFormat(format!(
            "sample rate {rate_hz} Hz is outside the supported {MIN_SAMPLE_RATE_HZ}–{MAX_SAMPLE_RATE_HZ} Hz"
        )))
    }
}

/// Checks a channel count against 1..=[`MAX_CHANNELS`].
pub fn check_channels(channels: usize) -> crate::Result<()> {
    if (1..=MAX_CHANNELS).contains(&channels) {
        Ok(())
    } else {
        Err(crate::Error::UnsupportedFormat(format!(
            "{channels} channels is outside the supported 1–{MAX_CHANNELS}"
        )))
    }
}

/// [`check_sample_rate`] and [`check_channels`] together: the one range of streams dfn4 supports.
pub fn check_format(rate_hz: u32, channels: usize) -> crate::Result<()> {
    check_sample_rate(rate_hz)?;
    check_channels(channels)
}

/// Upper bound of `conv_ch` accepted by [`ModelConfig::validate`].
pub const MAX_CONV_CH: usize = 1024;
/// Upper bound of `d_model`, `dt_rank` and `df_hidden` accepted by [`ModelConfig::validate`].
pub const MAX_WIDTH: usize = 8192;
/// Upper bound of `n_layers` accepted by [`ModelConfig::validate`].
pub const MAX_N_LAYERS: usize = 64;
/// Upper bound of `d_state` accepted by [`ModelConfig::validate`].
pub const MAX_D_STATE: usize = 256;
/// Upper bound of `d_conv` accepted by [`ModelConfig::validate`].
pub const MAX_D_CONV: usize = 64;
/// Upper bound of `expand` accepted by [`ModelConfig::validate`].
pub const MAX_EXPAND: usize = 16;
/// Upper bound of `df_order` accepted by [`ModelConfig::validate`].
pub const MAX_DF_ORDER: usize = 16;
/// Upper bound of the parameter count (2^28 `f32`s, a 1 GiB weights file).
pub const MAX_PARAMS: usize = 1 << 28;

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
        if self.conv_ch == 0 || self.d_model == 0 || self.expand == 0 || self.df_hidden == 0 {
            return bad("conv_ch, d_model, expand and df_hidden must be positive");
        }
        // A config comes from a file next to the weights, so it is untrusted: every size is capped
        // before anything is derived from it (products of uncapped sizes overflow, and `n_layers` alone
        // sets the length of the weight list built before the file is checked against it). The caps
        // are far above any real-time model (the shipped one: 32, 256, 4, 16, 4, 2, 16, 256, 5).
        for (name, value, max) in [
            ("conv_ch", self.conv_ch, MAX_CONV_CH),
            ("d_model", self.d_model, MAX_WIDTH),
            ("n_layers", self.n_layers, MAX_N_LAYERS),
            ("d_state", self.d_state, MAX_D_STATE),
            ("d_conv", self.d_conv, MAX_D_CONV),
            ("expand", self.expand, MAX_EXPAND),
            ("dt_rank", self.dt_rank, MAX_WIDTH),
            ("df_hidden", self.df_hidden, MAX_WIDTH),
            ("df_order", self.df_order, MAX_DF_ORDER),
        ] {
            if value > max {
                return Err(crate::Error::Config(format!(
                    "{name} = {value} is above the limit of {max}"
                )));
            }
        }
        // Within the caps the sizes multiply without overflow; the total bounds the weights file.
        let params = crate::model::spec::param_count(self);
        if params > MAX_PARAMS {
            return Err(crate::Error::Config(format!(
                "the model would have {params} parameters, above the limit of {MAX_PARAMS}"
            )));
        }
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0 && self.norm_eps < 1.0) {
            return Err(crate::Error::Config(format!(
                "norm_eps = {} must be in (0, 1)",
                self.norm_eps
            )));
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
    fn supported_rates_and_channels_are_one_range() {
        for rate_hz in [1_000, 8_000, 44_101, 48_000, 768_000] {
            check_format(rate_hz, 1).unwrap();
        }
        check_format(48_000, MAX_CHANNELS).unwrap();
        for rate_hz in [0, 1, 999, 768_001, 2_147_483_647, u32::MAX] {
            let e = check_sample_rate(rate_hz).unwrap_err();
            assert!(matches!(e, crate::Error::UnsupportedFormat(_)), "{e}");
            let msg = e.to_string();
            assert!(msg.contains(&format!("sample rate {rate_hz} Hz")), "{msg}");
            assert!(
                msg.contains("1000–768000 Hz") && !msg.contains('\n'),
                "{msg}"
            );
        }
        for channels in [0, MAX_CHANNELS + 1, 32_767] {
            let msg = check_format(48_000, channels).unwrap_err().to_string();
            assert_eq!(
                msg,
                format!("unsupported format: {channels} channels is outside the supported 1–256")
            );
        }
    }

    #[test]
    fn refuses_absurd_sizes_before_deriving_anything() {
        let err = |c: ModelConfig| c.validate().unwrap_err().to_string();
        let d = ModelConfig::default;
        assert_eq!(
            err(ModelConfig {
                d_model: 1 << 40,
                expand: 1 << 40,
                ..d()
            }),
            "invalid configuration: d_model = 1099511627776 is above the limit of 8192"
        );
        assert!(err(ModelConfig {
            n_layers: 1_000_000_000,
            ..d()
        })
        .contains("n_layers = 1000000000"));
        assert!(err(ModelConfig {
            nb_erb: 1_000_000_000,
            ..d()
        })
        .contains("must match the signal path"));
        assert!(err(ModelConfig {
            df_order: usize::MAX,
            ..d()
        })
        .contains("df_order"));
        assert!(err(ModelConfig { conv_ch: 0, ..d() }).contains("must be positive"));
        assert!(err(ModelConfig {
            norm_eps: f32::NAN,
            ..d()
        })
        .contains("norm_eps"));
        // Each size at its cap alone is fine; all of them together exceed the parameter budget.
        let big = ModelConfig {
            conv_ch: MAX_CONV_CH,
            d_model: MAX_WIDTH,
            n_layers: MAX_N_LAYERS,
            d_state: MAX_D_STATE,
            d_conv: MAX_D_CONV,
            expand: MAX_EXPAND,
            dt_rank: MAX_WIDTH,
            df_hidden: MAX_WIDTH,
            df_order: MAX_DF_ORDER,
            ..d()
        };
        assert!(err(big).contains("parameters, above the limit"));
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
