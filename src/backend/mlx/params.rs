//! DfNet4's parameters as MLX arrays, rearranged once at load time for a channels-last network.
//!
//! MLX convolutions take `[N, L, C]` inputs and `[C_out, K, C_in]` weights, so the feature maps are kept
//! channels-last throughout and the weights are permuted here instead of transposing activations every
//! frame: PyTorch conv weights `[out, in, k]` become `[out, k, in]`, linear weights are stored transposed
//! (`[in, out]`, so `x · W` needs no transpose), and the two layers whose inputs or outputs are flattened
//! feature maps (`enc.fuse`, `dec.erb_fc`) get their channel-major (`c·F + f`) index order rewritten to
//! the channels-last order (`f·C + c`). The network is still exactly models/README.md.
use mlx_rs::Array;

use crate::config::ModelConfig;
use crate::model::Weights;
use crate::Result;

/// A convolution over frequency (kernel 3): weight `[out, 3, in]`, bias `[out]`.
#[derive(Clone)]
pub struct Conv {
    /// `[out, k, in]`.
    pub w: Array,
    /// `[out]`.
    pub b: Array,
}

/// A linear layer stored as `y = x · w + b`.
#[derive(Clone)]
pub struct Linear {
    /// `[in, out]`.
    pub w: Array,
    /// `[out]`.
    pub b: Array,
}

/// One Mamba block.
#[derive(Clone)]
pub struct MambaParams {
    /// RMS norm weight `[d]`.
    pub norm: Array,
    /// `[d, 2·di]`.
    pub in_proj: Array,
    /// Depthwise causal conv taps, `[K, di]` (tap `k` multiplies input `t − K + 1 + k`).
    pub conv_w: Array,
    /// `[di]`.
    pub conv_b: Array,
    /// `[di, R + 2N]`.
    pub x_proj: Array,
    /// `[R, di]` with bias `[di]`.
    pub dt_proj: Linear,
    /// `[di, N]`; the SSM matrix is `A = −exp(A_log)`.
    pub a_log: Array,
    /// Skip gain `[di]`.
    pub d: Array,
    /// `[di, d]`.
    pub out_proj: Array,
}

/// Every parameter of DfNet4 in MLX layout.
#[derive(Clone)]
pub struct Params {
    /// `enc.erb_conv{0,1,2}`.
    pub erb_conv: Vec<Conv>,
    /// `enc.df_conv{0,1,2}`.
    pub df_conv: Vec<Conv>,
    /// `enc.fuse`, input columns in channels-last order.
    pub fuse: Linear,
    /// The Mamba stack.
    pub layers: Vec<MambaParams>,
    /// `mamba.norm_f.weight`.
    pub norm_f: Array,
    /// `dec.erb_fc`, output columns in channels-last order.
    pub erb_fc: Linear,
    /// `dec.erb_conv1`.
    pub dec_erb_conv1: Conv,
    /// `dec.erb_conv0`.
    pub dec_erb_conv0: Conv,
    /// `dec.erb_out`.
    pub erb_out: Conv,
    /// `dec.df_fc0`.
    pub df_fc0: Linear,
    /// `dec.df_out`.
    pub df_out: Linear,
    /// `dec.df_skip` (a 1×1 conv) as a linear map over channels, `[C, 2·O]`.
    pub df_skip: Linear,
    /// `dec.lsnr_fc`.
    pub lsnr_fc: Linear,
}

fn dims(shape: &[usize]) -> Vec<i32> {
    shape.iter().map(|&s| s as i32).collect()
}

/// `[rows, cols]` row-major → its transpose.
fn transposed(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// Channel-major flat index `c·bins + f` → channels-last `f·ch + c`, for `ch` channels of `bins` bins.
fn cl_index(i: usize, ch: usize, bins: usize) -> usize {
    let (c, f) = (i / bins, i % bins);
    f * ch + c
}

struct Loader<'a>(&'a Weights<'a>);

impl Loader<'_> {
    fn raw(&self, name: &str) -> Result<(&[f32], &[usize])> {
        let t = self.0.get(name)?;
        Ok((&t.data, &t.shape))
    }

    /// A tensor as stored (`A_log`, `D`, norms, biases).
    fn plain(&self, name: &str) -> Result<Array> {
        let (data, shape) = self.raw(name)?;
        Ok(Array::from_slice(data, &dims(shape)))
    }

    /// PyTorch `Conv1d` weight `[out, in, k]` → `[out, k, in]`, with its bias.
    fn conv(&self, prefix: &str) -> Result<Conv> {
        let (data, shape) = self.raw(&format!("{prefix}.weight"))?;
        let (o, i, k) = (shape[0], shape[1], shape[2]);
        let mut w = vec![0.0; data.len()];
        for oo in 0..o {
            for ii in 0..i {
                for kk in 0..k {
                    w[(oo * k + kk) * i + ii] = data[(oo * i + ii) * k + kk];
                }
            }
        }
        Ok(Conv {
            w: Array::from_slice(&w, &dims(&[o, k, i])),
            b: self.plain(&format!("{prefix}.bias"))?,
        })
    }

    /// PyTorch `Linear` weight `[out, in]` → `[in, out]`.
    fn weight_t(&self, name: &str) -> Result<Array> {
        let (data, shape) = self.raw(name)?;
        let (o, i) = (shape[0], shape[1]);
        Ok(Array::from_slice(&transposed(data, o, i), &dims(&[i, o])))
    }

    /// A PyTorch `Linear` with bias.
    fn linear(&self, prefix: &str) -> Result<Linear> {
        Ok(Linear {
            w: self.weight_t(&format!("{prefix}.weight"))?,
            b: self.plain(&format!("{prefix}.bias"))?,
        })
    }
}

impl Params {
    /// Copies and rearranges `weights` (already validated against `model::spec`).
    pub fn new(weights: &Weights) -> Result<Self> {
        let cfg = weights.config();
        let ld = Loader(weights);
        let c = cfg.conv_ch;
        let (d, di) = (cfg.d_model, cfg.d_inner());
        let erb_conv = (0..3)
            .map(|i| ld.conv(&format!("enc.erb_conv{i}")))
            .collect::<Result<Vec<_>>>()?;
        let df_conv = (0..3)
            .map(|i| ld.conv(&format!("enc.df_conv{i}")))
            .collect::<Result<Vec<_>>>()?;

        // enc.fuse [d, C·8 + C·24]: input columns channel-major per encoder → channels-last.
        let (fw, _) = ld.raw("enc.fuse.weight")?;
        let (nerb, ndf) = (cfg.erb_enc_bands(), cfg.df_enc_bins());
        let n_in = cfg.enc_concat_dim();
        let mut fuse_t = vec![0.0; fw.len()];
        for row in 0..d {
            for col in 0..n_in {
                let new_col = if col < c * nerb {
                    cl_index(col, c, nerb)
                } else {
                    c * nerb + cl_index(col - c * nerb, c, ndf)
                };
                fuse_t[new_col * d + row] = fw[row * n_in + col];
            }
        }
        let fuse = Linear {
            w: Array::from_slice(&fuse_t, &dims(&[n_in, d])),
            b: ld.plain("enc.fuse.bias")?,
        };

        let mut layers = Vec::with_capacity(cfg.n_layers);
        for l in 0..cfg.n_layers {
            let p = format!("mamba.layers.{l}");
            let (cw, _) = ld.raw(&format!("{p}.mixer.conv1d.weight"))?;
            layers.push(MambaParams {
                norm: ld.plain(&format!("{p}.norm.weight"))?,
                in_proj: ld.weight_t(&format!("{p}.mixer.in_proj.weight"))?,
                // [di, 1, K] → [K, di]
                conv_w: Array::from_slice(
                    &transposed(cw, di, cfg.d_conv),
                    &dims(&[cfg.d_conv, di]),
                ),
                conv_b: ld.plain(&format!("{p}.mixer.conv1d.bias"))?,
                x_proj: ld.weight_t(&format!("{p}.mixer.x_proj.weight"))?,
                dt_proj: ld.linear(&format!("{p}.mixer.dt_proj"))?,
                a_log: ld.plain(&format!("{p}.mixer.A_log"))?,
                d: ld.plain(&format!("{p}.mixer.D"))?,
                out_proj: ld.weight_t(&format!("{p}.mixer.out_proj.weight"))?,
            });
        }

        // dec.erb_fc [C·8, d]: output rows channel-major → channels-last, then transposed.
        let (ew, _) = ld.raw("dec.erb_fc.weight")?;
        let (eb, _) = ld.raw("dec.erb_fc.bias")?;
        let n_out = c * nerb;
        let mut erb_fc_t = vec![0.0; ew.len()];
        let mut erb_fc_b = vec![0.0; eb.len()];
        for row in 0..n_out {
            let new_row = cl_index(row, c, nerb);
            erb_fc_b[new_row] = eb[row];
            for col in 0..d {
                erb_fc_t[col * n_out + new_row] = ew[row * d + col];
            }
        }
        let erb_fc = Linear {
            w: Array::from_slice(&erb_fc_t, &dims(&[d, n_out])),
            b: Array::from_slice(&erb_fc_b, &dims(&[n_out])),
        };

        // dec.df_skip [2·O, C, 1] → [C, 2·O].
        let (sw, _) = ld.raw("dec.df_skip.weight")?;
        let skip_out = 2 * cfg.df_order;
        let df_skip = Linear {
            w: Array::from_slice(&transposed(sw, skip_out, c), &dims(&[c, skip_out])),
            b: ld.plain("dec.df_skip.bias")?,
        };

        Ok(Self {
            erb_conv,
            df_conv,
            fuse,
            layers,
            norm_f: ld.plain("mamba.norm_f.weight")?,
            erb_fc,
            dec_erb_conv1: ld.conv("dec.erb_conv1")?,
            dec_erb_conv0: ld.conv("dec.erb_conv0")?,
            erb_out: ld.conv("dec.erb_out")?,
            df_fc0: ld.linear("dec.df_fc0")?,
            df_out: ld.linear("dec.df_out")?,
            df_skip,
            lsnr_fc: ld.linear("dec.lsnr_fc")?,
        })
    }

    /// Every array in a fixed order (the order [`Params::from_arrays`] reads back): compiled and
    /// differentiated functions take the parameters as explicit inputs.
    pub fn to_arrays(&self) -> Vec<Array> {
        let mut v = Vec::new();
        let conv = |v: &mut Vec<Array>, c: &Conv| v.extend([c.w.clone(), c.b.clone()]);
        let lin = |v: &mut Vec<Array>, l: &Linear| v.extend([l.w.clone(), l.b.clone()]);
        self.erb_conv.iter().for_each(|c| conv(&mut v, c));
        self.df_conv.iter().for_each(|c| conv(&mut v, c));
        lin(&mut v, &self.fuse);
        for l in &self.layers {
            v.extend([
                l.norm.clone(),
                l.in_proj.clone(),
                l.conv_w.clone(),
                l.conv_b.clone(),
                l.x_proj.clone(),
            ]);
            lin(&mut v, &l.dt_proj);
            v.extend([l.a_log.clone(), l.d.clone(), l.out_proj.clone()]);
        }
        v.push(self.norm_f.clone());
        lin(&mut v, &self.erb_fc);
        conv(&mut v, &self.dec_erb_conv1);
        conv(&mut v, &self.dec_erb_conv0);
        conv(&mut v, &self.erb_out);
        lin(&mut v, &self.df_fc0);
        lin(&mut v, &self.df_out);
        lin(&mut v, &self.df_skip);
        lin(&mut v, &self.lsnr_fc);
        v
    }

    /// Rebuilds the parameters from the arrays of [`Params::to_arrays`] (e.g. the tracer inputs of a
    /// compiled function); `None` when the count does not match `cfg`.
    pub fn from_arrays(cfg: &ModelConfig, arrays: &[Array]) -> Option<Self> {
        if arrays.len() != Self::count(cfg) {
            return None;
        }
        let mut t = Take(arrays.iter());
        Some(Self {
            erb_conv: (0..3).map(|_| t.conv()).collect::<Option<Vec<_>>>()?,
            df_conv: (0..3).map(|_| t.conv()).collect::<Option<Vec<_>>>()?,
            fuse: t.linear()?,
            layers: (0..cfg.n_layers)
                .map(|_| {
                    Some(MambaParams {
                        norm: t.next()?,
                        in_proj: t.next()?,
                        conv_w: t.next()?,
                        conv_b: t.next()?,
                        x_proj: t.next()?,
                        dt_proj: t.linear()?,
                        a_log: t.next()?,
                        d: t.next()?,
                        out_proj: t.next()?,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
            norm_f: t.next()?,
            erb_fc: t.linear()?,
            dec_erb_conv1: t.conv()?,
            dec_erb_conv0: t.conv()?,
            erb_out: t.conv()?,
            df_fc0: t.linear()?,
            df_out: t.linear()?,
            df_skip: t.linear()?,
            lsnr_fc: t.linear()?,
        })
    }

    /// Number of arrays in [`Params::to_arrays`]: one per PyTorch tensor.
    pub fn count(cfg: &ModelConfig) -> usize {
        crate::model::weight_specs(cfg).len()
    }
}

/// Hands out arrays in [`Params::to_arrays`] order.
struct Take<'a>(std::slice::Iter<'a, Array>);

impl Take<'_> {
    fn next(&mut self) -> Option<Array> {
        self.0.next().cloned()
    }
    fn conv(&mut self) -> Option<Conv> {
        Some(Conv {
            w: self.next()?,
            b: self.next()?,
        })
    }
    fn linear(&mut self) -> Option<Linear> {
        Some(Linear {
            w: self.next()?,
            b: self.next()?,
        })
    }
}
