//! The stateless parts of DfNet4 on the native backend: frequency convolutions, dense layers, and the
//! encoder / decoder built from them (models/README.md). Each function works on one frame or on `n`
//! independent frames at once (`[n][dim]` buffers), so the same code serves a batch of streams in `step`
//! and a block of frames in `run_sequence`.
use super::packed::{
    self, conv_i8, im2col, im2col_len, im2col_row_len, PackedConv, PackedConvI8, PackedMat,
    WeightPrecision,
};
use super::simd::Isa;
use crate::model::spec::CONV_KERNEL;
use crate::model::Weights;
use crate::{Error, Result};

/// Copies a weight tensor, checking its element count against what this backend expects.
pub(super) fn tensor(w: &Weights, name: &str, len: usize) -> Result<Vec<f32>> {
    let t = w.get(name)?;
    if t.data.len() != len {
        return Err(Error::WeightShape {
            name: name.to_string(),
            found: t.shape.clone(),
            expected: vec![len],
        });
    }
    Ok(t.data.to_vec())
}

/// How a convolution resamples the frequency axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resample {
    /// Stride 1 on the input.
    Same,
    /// Stride 2 (`ceil(len/2)` outputs).
    Down2,
    /// Nearest-neighbour ×2 upsampling of the input, then stride 1.
    Up2,
}

/// `Conv1d` over frequency with padding `K/2` (PyTorch semantics), weights packed for the register tile.
pub(super) struct Conv {
    packed: ConvWeights,
    in_ch: usize,
    out_ch: usize,
    kernel: usize,
}

/// A convolution's weights: `f32` for an im2col product, or 8-bit for the int8 kernels.
enum ConvWeights {
    F32(PackedConv),
    I8(PackedConvI8),
}

impl Conv {
    /// Loads `{prefix}.weight` (`[out, in, kernel]`) and `{prefix}.bias`: in 8 bits (and run by the
    /// int8 kernels) for [`WeightPrecision::I8`], as `f32` for the other precisions.
    pub fn load(
        w: &Weights,
        prefix: &str,
        in_ch: usize,
        out_ch: usize,
        kernel: usize,
        precision: WeightPrecision,
    ) -> Result<Self> {
        let wt = tensor(w, &format!("{prefix}.weight"), out_ch * in_ch * kernel)?;
        let b = tensor(w, &format!("{prefix}.bias"), out_ch)?;
        let packed = match precision {
            WeightPrecision::I8 => {
                ConvWeights::I8(PackedConvI8::pack(&wt, &b, out_ch, in_ch, kernel)?)
            }
            WeightPrecision::F32 | WeightPrecision::F16 => {
                ConvWeights::F32(PackedConv::pack(&wt, &b, out_ch, in_ch * kernel))
            }
        };
        Ok(Self {
            packed,
            in_ch,
            out_ch,
            kernel,
        })
    }

    /// Output length for an input of `f_in` bins.
    pub fn out_len(f_in: usize, rs: Resample) -> usize {
        match rs {
            Resample::Same => f_in,
            Resample::Down2 => f_in.div_ceil(2),
            Resample::Up2 => 2 * f_in,
        }
    }

    /// Scratch [`Conv::forward`] needs for `f_out` outputs.
    pub fn scratch_len(&self, f_out: usize) -> ConvScratchLen {
        match &self.packed {
            ConvWeights::F32(_) => ConvScratchLen {
                col: im2col_len(self.in_ch * self.kernel, f_out),
                row: im2col_row_len(f_out, 2, self.kernel),
                words: 0,
            },
            ConvWeights::I8(pc) => ConvScratchLen {
                col: 0,
                row: 0,
                words: pc.scratch_words(f_out),
            },
        }
    }

    /// `out` (`[out_ch][f_out]`) = conv(`input` (`[in_ch][f_in]`)) resampled as `rs` says, followed by
    /// ReLU if `relu`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        isa: Isa,
        input: &[f32],
        f_in: usize,
        rs: Resample,
        relu: bool,
        s: &mut ConvScratch<'_>,
        out: &mut [f32],
    ) {
        debug_assert_eq!(input.len(), self.in_ch * f_in);
        let stride = if rs == Resample::Down2 { 2 } else { 1 };
        let f_out = Self::out_len(f_in, rs);
        let (up2, out) = (rs == Resample::Up2, &mut out[..self.out_ch * f_out]);
        match &self.packed {
            ConvWeights::F32(pc) => {
                im2col(input, f_in, self.kernel, stride, up2, f_out, s.row, s.col);
                packed::conv_acc(isa, pc, s.col, f_out, relu, out);
            }
            ConvWeights::I8(pc) => {
                conv_i8(isa, pc, input, f_in, stride, up2, f_out, relu, s.words, out);
            }
        }
    }
}

/// Scratch of the convolutions: im2col panels and one padded input row (`f32` weights), or the
/// quantised input (8-bit weights).
pub(super) struct ConvScratch<'a> {
    /// im2col panels.
    pub col: &'a mut [f32],
    /// Zero-padded input row.
    pub row: &'a mut [f32],
    /// Quantised input of the int8 kernels (`packed::conv_i8`).
    pub words: &'a mut [u32],
}

/// Lengths of the buffers of a [`ConvScratch`].
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ConvScratchLen {
    pub col: usize,
    pub row: usize,
    pub words: usize,
}

impl ConvScratchLen {
    /// What covers both `self` and `other`.
    pub fn max(self, other: Self) -> Self {
        Self {
            col: self.col.max(other.col),
            row: self.row.max(other.row),
            words: self.words.max(other.words),
        }
    }
}

/// A dense layer, weights `[out][in]` (PyTorch `Linear`), packed.
pub(super) struct Linear {
    w: PackedMat,
    b: Vec<f32>,
}

impl Linear {
    /// Loads `{prefix}.weight` (stored in `precision`) and `{prefix}.bias`.
    pub fn load(
        w: &Weights,
        prefix: &str,
        in_dim: usize,
        out_dim: usize,
        precision: WeightPrecision,
    ) -> Result<Self> {
        let wt = tensor(w, &format!("{prefix}.weight"), out_dim * in_dim)?;
        Ok(Self {
            w: PackedMat::pack(&wt, out_dim, in_dim, precision)?,
            b: tensor(w, &format!("{prefix}.bias"), out_dim)?,
        })
    }

    /// `ys[j] = W · xs[j] + b` for every frame `j`.
    pub fn forward(&self, isa: Isa, xs: &[f32], ys: &mut [f32]) {
        for y in ys.chunks_exact_mut(self.b.len()) {
            y.copy_from_slice(&self.b);
        }
        packed::gemv_acc(isa, &self.w, xs, ys);
    }
}

/// In-place ReLU.
pub(super) fn relu(x: &mut [f32]) {
    for v in x {
        *v = v.max(0.0);
    }
}

/// `x += skip` element-wise.
pub(super) fn add(x: &mut [f32], skip: &[f32]) {
    for (a, b) in x.iter_mut().zip(skip) {
        *a += b;
    }
}

/// The ERB and complex encoders and the fusion layer.
pub(super) struct Encoder {
    erb: [Conv; 3],
    df: [Conv; 3],
    fuse: Linear,
    nb_erb: usize,
    nb_df: usize,
}

/// Per-frame encoder maps the decoders reuse as skips.
pub(super) struct EncMaps<'a> {
    /// `e0` (`[C][nb_erb]`).
    pub e0: &'a mut [f32],
    /// `e1` (`[C][nb_erb/2]`).
    pub e1: &'a mut [f32],
    /// `c0` (`[C][nb_df]`).
    pub c0: &'a mut [f32],
    /// `c1` (`[C][nb_df/2]`), only an intermediate.
    pub c1: &'a mut [f32],
    /// `flatten(e2) ‖ flatten(c2)`, the fusion input; `e2` is its first `C·nb_erb/4` values.
    pub cat: &'a mut [f32],
}

impl Encoder {
    /// Loads the `enc.*` weights (the dense ones and the convolutions stored in `precision`).
    pub fn load(w: &Weights, precision: WeightPrecision) -> Result<Self> {
        let cfg = w.config();
        let (c, k) = (cfg.conv_ch, CONV_KERNEL);
        let conv = |name: &str, in_ch| Conv::load(w, name, in_ch, c, k, precision);
        Ok(Self {
            erb: [
                conv("enc.erb_conv0", 1)?,
                conv("enc.erb_conv1", c)?,
                conv("enc.erb_conv2", c)?,
            ],
            df: [
                conv("enc.df_conv0", 2)?,
                conv("enc.df_conv1", c)?,
                conv("enc.df_conv2", c)?,
            ],
            fuse: Linear::load(w, "enc.fuse", cfg.enc_concat_dim(), cfg.d_model, precision)?,
            nb_erb: cfg.nb_erb,
            nb_df: cfg.nb_df,
        })
    }

    /// Scratch the encoder convolutions need.
    pub fn scratch_len(&self) -> ConvScratchLen {
        let (e, d) = (self.nb_erb, self.nb_df);
        let all = [
            self.erb[0].scratch_len(e),
            self.erb[1].scratch_len(e / 2),
            self.erb[2].scratch_len(e / 4),
            self.df[0].scratch_len(d),
            self.df[1].scratch_len(d / 2),
            self.df[2].scratch_len(d / 4),
        ];
        all.into_iter()
            .fold(ConvScratchLen::default(), ConvScratchLen::max)
    }

    /// The convolutional part for one frame: `erb` (`[nb_erb]`), `spec` (`[2][nb_df]`) → `maps`.
    pub fn convs(
        &self,
        isa: Isa,
        erb: &[f32],
        spec: &[f32],
        s: &mut ConvScratch<'_>,
        m: EncMaps<'_>,
    ) {
        let (e, d) = (self.nb_erb, self.nb_df);
        let c = self.erb[0].out_ch;
        let (e2, c2) = m.cat.split_at_mut(c * e / 4);
        let (same, down) = (Resample::Same, Resample::Down2);
        self.erb[0].forward(isa, erb, e, same, true, s, m.e0);
        self.erb[1].forward(isa, m.e0, e, down, true, s, m.e1);
        self.erb[2].forward(isa, m.e1, e / 2, down, true, s, e2);
        self.df[0].forward(isa, spec, d, same, true, s, m.c0);
        self.df[1].forward(isa, m.c0, d, down, true, s, m.c1);
        self.df[2].forward(isa, m.c1, d / 2, down, true, s, c2);
    }

    /// `xs[j] = relu(fuse · cat[j] + b)` for every frame.
    pub fn fuse(&self, isa: Isa, cat: &[f32], xs: &mut [f32]) {
        self.fuse.forward(isa, cat, xs);
        relu(xs);
    }
}
