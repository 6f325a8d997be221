//! The ERB-gain decoder, the deep-filter decoder and the LSNR head of DfNet4 on the native backend
//! (models/README.md), for `n` independent frames at once.
use super::layers::{add, relu, Conv, ConvScratch, ConvScratchLen, Linear, Resample};
use super::packed::WeightPrecision;
use super::simd::{self, Isa};
use crate::config::{LSNR_MAX_DB, LSNR_MIN_DB};
use crate::model::spec::CONV_KERNEL;
use crate::model::Weights;
use crate::Result;

/// All decoder weights.
pub(super) struct Decoder {
    erb_fc: Linear,
    erb_conv1: Conv,
    erb_conv0: Conv,
    erb_out: Conv,
    df_fc0: Linear,
    df_out: Linear,
    df_skip: Conv,
    lsnr_fc: Linear,
    conv_ch: usize,
    nb_erb: usize,
    nb_df: usize,
    coef_ch: usize,
}

/// Per-frame scratch of the decoder convolutions.
pub(super) struct DecScratch<'a> {
    /// Convolution scratch.
    pub conv: ConvScratch<'a>,
    /// `[C][nb_erb/2]`.
    pub g16: &'a mut [f32],
    /// `[C][nb_erb]`.
    pub g32: &'a mut [f32],
    /// DF skip map `[2·O][nb_df]`.
    pub skip: &'a mut [f32],
}

impl Decoder {
    /// Loads the `dec.*` weights (the dense ones and the convolutions stored in `precision`).
    pub fn load(w: &Weights, precision: WeightPrecision) -> Result<Self> {
        let cfg = w.config();
        let (c, k, d) = (cfg.conv_ch, CONV_KERNEL, cfg.d_model);
        Ok(Self {
            erb_fc: Linear::load(w, "dec.erb_fc", d, c * cfg.erb_enc_bands(), precision)?,
            erb_conv1: Conv::load(w, "dec.erb_conv1", c, c, k, precision)?,
            erb_conv0: Conv::load(w, "dec.erb_conv0", c, c, k, precision)?,
            erb_out: Conv::load(w, "dec.erb_out", c, 1, k, precision)?,
            df_fc0: Linear::load(w, "dec.df_fc0", d, cfg.df_hidden, precision)?,
            df_out: Linear::load(w, "dec.df_out", cfg.df_hidden, cfg.df_out_dim(), precision)?,
            df_skip: Conv::load(w, "dec.df_skip", c, 2 * cfg.df_order, 1, precision)?,
            lsnr_fc: Linear::load(w, "dec.lsnr_fc", d, 1, precision)?,
            conv_ch: c,
            nb_erb: cfg.nb_erb,
            nb_df: cfg.nb_df,
            coef_ch: 2 * cfg.df_order,
        })
    }

    /// Scratch the decoder convolutions need.
    pub fn scratch_len(&self) -> ConvScratchLen {
        let e = self.nb_erb;
        let up1 = Conv::out_len(e / 4, Resample::Up2);
        let up0 = Conv::out_len(e / 2, Resample::Up2);
        let all = [
            self.erb_conv1.scratch_len(up1),
            self.erb_conv0.scratch_len(up0),
            self.erb_out.scratch_len(e),
            self.df_skip.scratch_len(self.nb_df),
        ];
        all.into_iter()
            .fold(ConvScratchLen::default(), ConvScratchLen::max)
    }

    /// Width of the ERB decoder's dense output (`C · nb_erb/4`).
    pub fn erb_fc_dim(&self) -> usize {
        self.conv_ch * self.nb_erb / 4
    }

    /// `g8[j] = relu(erb_fc · x[j] + b) + e2[j]`: the dense part of the ERB decoder for all frames.
    pub fn erb_fc(&self, isa: Isa, xs: &[f32], g8: &mut [f32]) {
        self.erb_fc.forward(isa, xs, g8);
        relu(g8);
    }

    /// The convolutional part of the ERB decoder for one frame: `g8` (`[C][nb_erb/4]`, skip already
    /// added) with the encoder skips `e1`, `e0` → `gains` (`[nb_erb]`).
    pub fn erb_convs(
        &self,
        isa: Isa,
        g8: &[f32],
        e1: &[f32],
        e0: &[f32],
        s: &mut DecScratch<'_>,
        gains: &mut [f32],
    ) {
        let e = self.nb_erb;
        let up = Resample::Up2;
        self.erb_conv1
            .forward(isa, g8, e / 4, up, true, &mut s.conv, s.g16);
        add(s.g16, e1);
        self.erb_conv0
            .forward(isa, s.g16, e / 2, up, true, &mut s.conv, s.g32);
        add(s.g32, e0);
        let same = Resample::Same;
        self.erb_out
            .forward(isa, s.g32, e, same, false, &mut s.conv, gains);
        simd::sigmoid_inplace(isa, gains);
    }

    /// `raw[j] = df_out · relu(df_fc0 · x[j] + b) + b` for all frames, written into `coefs`
    /// (`[n][nb_df·O·2]`, index `f·2O + o·2 + re/im`); `hidden` is `[n][df_hidden]` scratch.
    pub fn df_fc(&self, isa: Isa, xs: &[f32], hidden: &mut [f32], coefs: &mut [f32]) {
        self.df_fc0.forward(isa, xs, hidden);
        relu(hidden);
        self.df_out.forward(isa, hidden, coefs);
    }

    /// Finishes one frame's coefficients: `coefs[f·2O + ch] = tanh(raw + df_skip(c0)[ch][f])`.
    pub fn df_skip(&self, isa: Isa, c0: &[f32], s: &mut DecScratch<'_>, coefs: &mut [f32]) {
        let same = Resample::Same;
        self.df_skip
            .forward(isa, c0, self.nb_df, same, false, &mut s.conv, s.skip);
        for (f, row) in coefs.chunks_exact_mut(self.coef_ch).enumerate() {
            for (ch, v) in row.iter_mut().enumerate() {
                *v += s.skip[ch * self.nb_df + f];
            }
        }
        simd::tanh_inplace(isa, coefs);
    }

    /// `lsnr[j] = sigmoid(lsnr_fc · x[j] + b) · (max − min) + min` in dB, for all frames.
    pub fn lsnr(&self, isa: Isa, xs: &[f32], lsnr_db: &mut [f32]) {
        self.lsnr_fc.forward(isa, xs, lsnr_db);
        simd::sigmoid_inplace(isa, lsnr_db);
        for v in lsnr_db {
            *v = *v * (LSNR_MAX_DB - LSNR_MIN_DB) + LSNR_MIN_DB;
        }
    }
}
