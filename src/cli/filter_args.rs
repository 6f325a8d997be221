//! The deep-filter options shared by every command that denoises (`enhance`, `live`): the attenuation
//! limit, the post-filter and libDF's LSNR stage gates, with the defaults that suit the shipped model.
//! The library checks them ([`DenoiseParams::validate`]), so each flag means the same everywhere.
use anyhow::Result;
use clap::Args;

use dfn4::denoiser::DenoiseParams;

/// Attenuation limit, post-filter and LSNR gate options (`#[command(flatten)]` into a command's arguments).
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Limit the noise attenuation to DB decibels: 0 = no attenuation (the input, delayed), 12 = noise
    /// lowered by at most 12 dB, 100 or more = unlimited (the default).
    #[arg(long, value_name = "DB", allow_negative_numbers = true)]
    pub atten_lim_db: Option<f32>,
    /// Enable libDF's post-filter (extra attenuation of bins the model already lowered). Off by
    /// default, as in DeepFilterNet: with the shipped model it lowered every dev-set score (README).
    #[arg(long)]
    pub post_filter: bool,
    /// LSNR gate (dB): frames estimated below it are treated as noise only and zeroed. libDF uses -10;
    /// the default -15 (the LSNR floor) leaves the gate off, because the shipped model's LSNR head is
    /// not yet accurate enough to gate on (see README, quality table).
    #[arg(long, value_name = "DB", default_value_t = DenoiseParams::shipped().min_db_thresh, allow_negative_numbers = true)]
    pub min_db_thresh: f32,
    /// LSNR gate (dB): frames estimated above it pass through unprocessed. libDF uses 30; the default 35
    /// (the LSNR ceiling) leaves the gate off.
    #[arg(
        long,
        value_name = "DB",
        default_value_t = DenoiseParams::shipped().max_db_erb_thresh,
        allow_negative_numbers = true
    )]
    pub max_db_erb_thresh: f32,
    /// LSNR gate (dB): frames estimated above it get the ERB gains only, no deep filter. libDF uses 20;
    /// the default 35 leaves the gate off: the shipped model was trained with the deep filter always on,
    /// so its ERB gains below 4.8 kHz are not meant to be used alone.
    #[arg(
        long,
        value_name = "DB",
        default_value_t = DenoiseParams::shipped().max_db_df_thresh,
        allow_negative_numbers = true
    )]
    pub max_db_df_thresh: f32,
}

impl FilterArgs {
    /// Denoising parameters from these options, checked by the library.
    pub fn params(&self) -> Result<DenoiseParams> {
        let params = DenoiseParams {
            atten_lim_db: self.atten_lim_db,
            post_filter: self.post_filter,
            min_db_thresh: self.min_db_thresh,
            max_db_erb_thresh: self.max_db_erb_thresh,
            max_db_df_thresh: self.max_db_df_thresh,
            ..DenoiseParams::shipped()
        };
        params.validate()?;
        Ok(params)
    }
}
