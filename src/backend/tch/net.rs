//! DfNet4 written once in libtorch operations (models/README.md), shared by inference and training.
//!
//! Parameters live in a [`tch::nn::VarStore`] under their PyTorch-style names from `model::spec`, so a
//! var store saves and loads the same safetensors keys as [`Weights`]. Encoders and decoders see every
//! frame independently (`[N, ...]` with `N = B·T` or `B`); only the Mamba blocks differ between the
//! sequence form (parallel scan over time) and the step form (explicit conv ring and SSM state).
use std::collections::HashMap;

use tch::{nn, Tensor};

use super::fused_scan::{self, TrainingScan};
use super::scan::{linear_scan, linear_scan_in_place};
use crate::config::{ModelConfig, LSNR_MAX_DB, LSNR_MIN_DB};
use crate::model::{weight_specs, Weights};
use crate::{Error, Result};

/// A weight (and optional bias) of a linear or convolution layer.
struct Affine {
    w: Tensor,
    b: Option<Tensor>,
}

impl Affine {
    fn linear(&self, x: &Tensor) -> Tensor {
        x.linear(&self.w, self.b.as_ref())
    }
    /// `Conv1d` over the last axis with PyTorch semantics; `pad = (kernel − 1) / 2`.
    fn conv(&self, x: &Tensor, stride: i64) -> Tensor {
        let pad = (self.w.size()[2] - 1) / 2;
        conv1d(x, &self.w, self.b.as_ref(), stride, pad, 1)
    }
}

/// `Conv1d` (`x [N, C, L]`) in full fp32 on every device. PyTorch runs CUDA convolutions in TF32 by
/// default (about three fewer significant digits), which would put the GPU outside the native backend's
/// tolerance; these convolutions are far too small for TF32 to buy any speed.
fn conv1d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: i64,
    pad: i64,
    groups: i64,
) -> Tensor {
    x.internal_convolution(
        w,
        b,
        [stride],
        [pad],
        [1],
        /*transposed=*/ false,
        [0],
        groups,
        /*benchmark=*/ false,
        /*deterministic=*/ false,
        /*cudnn_enabled=*/ true,
        /*allow_tf32=*/ false,
    )
}

/// One Mamba block's parameters (pre-norm residual block).
struct MambaLayer {
    norm_w: Tensor,
    in_proj: Tensor,
    conv_w: Tensor,
    conv_b: Tensor,
    x_proj: Tensor,
    dt_proj: Affine,
    a_log: Tensor,
    d: Tensor,
    out_proj: Tensor,
}

/// Recurrent state of one Mamba block for `B` streams.
pub struct LayerState {
    /// Last `K − 1` inputs of the depthwise causal conv, `[B, di, K−1]` (oldest first).
    pub conv: Tensor,
    /// SSM state, `[B, di, N]`.
    pub ssm: Tensor,
}

/// Model outputs; `N` is `B` (step) or `B·T` (sequence, before reshaping by the caller).
pub struct NetOutput {
    /// ERB gains in (0, 1), `[.., nb_erb]`.
    pub gains: Tensor,
    /// Deep-filter coefficients, `[.., nb_df, df_order, 2]`.
    pub coefs: Tensor,
    /// Local SNR in dB, `[..]`.
    pub lsnr_db: Tensor,
}

/// Encoder feature maps reused by the decoders (U-Net skips).
struct Skips {
    e0: Tensor,
    e1: Tensor,
    e2: Tensor,
    c0: Tensor,
}

/// DfNet4 whose tensors are the variables of a var store (trainable when the store is).
pub struct DfNet4 {
    cfg: ModelConfig,
    erb_conv: Vec<Affine>,
    df_conv: Vec<Affine>,
    fuse: Affine,
    layers: Vec<MambaLayer>,
    norm_f: Tensor,
    erb_fc: Affine,
    dec_erb_conv1: Affine,
    dec_erb_conv0: Affine,
    erb_out: Affine,
    df_fc0: Affine,
    df_out: Affine,
    df_skip: Affine,
    lsnr_fc: Affine,
}

/// Creates the variable `name` (dotted PyTorch key) under `root`, initialised with a copy of `value`.
fn var_at(root: &nn::Path, name: &str, value: &Tensor) -> Tensor {
    let mut parts: Vec<&str> = name.split('.').collect();
    let leaf = parts.pop().unwrap_or(name);
    let mut path: Option<nn::Path> = None;
    for part in parts {
        path = Some(match &path {
            None => root.sub(part),
            Some(p) => p.sub(part),
        });
    }
    match path {
        None => root.var_copy(leaf, value),
        Some(p) => p.var_copy(leaf, value),
    }
}

/// The freshly registered variables, handed out by name while the network is assembled.
struct Vars(HashMap<String, Tensor>);

impl Vars {
    fn take(&mut self, name: &str) -> Result<Tensor> {
        self.0
            .remove(name)
            .ok_or_else(|| Error::WeightMissing(name.to_string()))
    }
    fn affine(&mut self, prefix: &str, bias: bool) -> Result<Affine> {
        let w = self.take(&format!("{prefix}.weight"))?;
        let b = if bias {
            Some(self.take(&format!("{prefix}.bias"))?)
        } else {
            None
        };
        Ok(Affine { w, b })
    }
}

/// `x / sqrt(mean(x²) + eps) · w` over the last axis.
fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Tensor {
    x * (x.square().mean_dim(-1, true, None) + eps).rsqrt() * w
}

impl DfNet4 {
    /// Registers every parameter of `weights` in the var store at `root` (copied to the store's device)
    /// and builds the network over those variables.
    pub fn new(root: &nn::Path, weights: &Weights) -> Result<Self> {
        let cfg = weights.config().clone();
        let mut map = HashMap::new();
        for spec in weight_specs(&cfg) {
            let t = weights.get(&spec.name)?;
            let shape: Vec<i64> = t.shape.iter().map(|&s| s as i64).collect();
            let value = Tensor::from_slice(&t.data).reshape(shape);
            map.insert(spec.name.clone(), var_at(root, &spec.name, &value));
        }
        let mut v = Vars(map);
        let erb_conv = (0..3)
            .map(|i| v.affine(&format!("enc.erb_conv{i}"), true))
            .collect::<Result<Vec<_>>>()?;
        let df_conv = (0..3)
            .map(|i| v.affine(&format!("enc.df_conv{i}"), true))
            .collect::<Result<Vec<_>>>()?;
        let fuse = v.affine("enc.fuse", true)?;
        let mut layers = Vec::with_capacity(cfg.n_layers);
        for l in 0..cfg.n_layers {
            let p = format!("mamba.layers.{l}");
            layers.push(MambaLayer {
                norm_w: v.take(&format!("{p}.norm.weight"))?,
                in_proj: v.take(&format!("{p}.mixer.in_proj.weight"))?,
                conv_w: v.take(&format!("{p}.mixer.conv1d.weight"))?,
                conv_b: v.take(&format!("{p}.mixer.conv1d.bias"))?,
                x_proj: v.take(&format!("{p}.mixer.x_proj.weight"))?,
                dt_proj: v.affine(&format!("{p}.mixer.dt_proj"), true)?,
                a_log: v.take(&format!("{p}.mixer.A_log"))?,
                d: v.take(&format!("{p}.mixer.D"))?,
                out_proj: v.take(&format!("{p}.mixer.out_proj.weight"))?,
            });
        }
        Ok(Self {
            norm_f: v.take("mamba.norm_f.weight")?,
            erb_fc: v.affine("dec.erb_fc", true)?,
            dec_erb_conv1: v.affine("dec.erb_conv1", true)?,
            dec_erb_conv0: v.affine("dec.erb_conv0", true)?,
            erb_out: v.affine("dec.erb_out", true)?,
            df_fc0: v.affine("dec.df_fc0", true)?,
            df_out: v.affine("dec.df_out", true)?,
            df_skip: v.affine("dec.df_skip", true)?,
            lsnr_fc: v.affine("dec.lsnr_fc", true)?,
            cfg,
            erb_conv,
            df_conv,
            fuse,
            layers,
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Encoders for `N` independent frames: `erb [N, nb_erb]`, `spec [N, 2, nb_df]` → `x [N, d]`.
    fn encode(&self, erb: &Tensor, spec: &Tensor) -> (Tensor, Skips) {
        let e0 = self.erb_conv[0].conv(&erb.unsqueeze(1), 1).relu();
        let e1 = self.erb_conv[1].conv(&e0, 2).relu();
        let e2 = self.erb_conv[2].conv(&e1, 2).relu();
        let c0 = self.df_conv[0].conv(spec, 1).relu();
        let c1 = self.df_conv[1].conv(&c0, 2).relu();
        let c2 = self.df_conv[2].conv(&c1, 2).relu();
        let cat = Tensor::cat(&[e2.flatten(1, -1), c2.flatten(1, -1)], 1);
        let x = self.fuse.linear(&cat).relu();
        (x, Skips { e0, e1, e2, c0 })
    }

    /// Decoders for `N` independent frames.
    fn decode(&self, x: &Tensor, s: &Skips) -> NetOutput {
        let n = x.size()[0];
        let c = self.cfg.conv_ch as i64;
        // Nearest-neighbour ×2 along the last axis. Written as a broadcast rather than
        // `repeat_interleave`, which may read its output size back from the device: a CUDA graph cannot
        // capture that.
        let up2 = |t: &Tensor| {
            let mut size = t.size();
            let last = size.len() - 1;
            let mut wide = size.clone();
            wide.push(2);
            size[last] *= 2;
            t.unsqueeze(-1)
                .expand(wide.as_slice(), false)
                .reshape(size.as_slice())
        };
        let g = self.erb_fc.linear(x).relu().reshape([n, c, -1]) + &s.e2;
        let g = self.dec_erb_conv1.conv(&up2(&g), 1).relu() + &s.e1;
        let g = self.dec_erb_conv0.conv(&up2(&g), 1).relu() + &s.e0;
        let gains = self.erb_out.conv(&g, 1).sigmoid().squeeze_dim(1);

        let (nb_df, order) = (self.cfg.nb_df as i64, self.cfg.df_order as i64);
        let raw = self
            .df_out
            .linear(&self.df_fc0.linear(x).relu())
            .reshape([n, nb_df, order, 2]);
        // Skip channels are `o·2 + re/im` over bins; bring bins first to match `raw`.
        let skip = self
            .df_skip
            .conv(&s.c0, 1)
            .permute([0, 2, 1])
            .reshape([n, nb_df, order, 2]);
        let coefs = (raw + skip).tanh();

        let lsnr_db = self.lsnr_fc.linear(x).sigmoid().squeeze_dim(-1)
            * f64::from(LSNR_MAX_DB - LSNR_MIN_DB)
            + f64::from(LSNR_MIN_DB);
        NetOutput {
            gains,
            coefs,
            lsnr_db,
        }
    }

    /// Whole sequences from zero state: `erb [B, T, nb_erb]`, `spec [B, T, 2, nb_df]`; outputs shaped
    /// `[B, T, ...]`.
    pub fn forward_seq(&self, erb: &Tensor, spec: &Tensor) -> NetOutput {
        self.forward_seq_marked(erb, spec, &mut |_| {})
    }

    /// [`forward_seq`](Self::forward_seq), calling `mark(phase)` after each phase has been queued
    /// ("encoders", per Mamba layer "mamba.in_proj", "mamba.conv", "mamba.selective", "mamba.scan",
    /// "mamba.out", then "decoders"): a profiler synchronises the device there and reads its clock.
    pub fn forward_seq_marked(
        &self,
        erb: &Tensor,
        spec: &Tensor,
        mark: &mut dyn FnMut(&'static str),
    ) -> NetOutput {
        let (b, t) = (erb.size()[0], erb.size()[1]);
        let (x, skips) = self.encode(&erb.flatten(0, 1), &spec.flatten(0, 1));
        let mut x = x.reshape([b, t, -1]);
        mark("encoders");
        let eps = f64::from(self.cfg.norm_eps);
        for layer in &self.layers {
            x = layer.forward_seq(&x, eps, mark);
        }
        let x = rms_norm(&x, &self.norm_f, eps).flatten(0, 1);
        let o = self.decode(&x, &skips);
        mark("decoders");
        let (nb_df, order) = (self.cfg.nb_df as i64, self.cfg.df_order as i64);
        NetOutput {
            gains: o.gains.reshape([b, t, -1]),
            coefs: o.coefs.reshape([b, t, nb_df, order, 2]),
            lsnr_db: o.lsnr_db.reshape([b, t]),
        }
    }

    /// Zeroed recurrent state for `batch` streams on `device`.
    pub fn zero_state(&self, batch: i64, device: tch::Device) -> Vec<LayerState> {
        let di = self.cfg.d_inner() as i64;
        let opts = (tch::Kind::Float, device);
        (0..self.cfg.n_layers)
            .map(|_| LayerState {
                conv: Tensor::zeros([batch, di, self.cfg.d_conv as i64 - 1], opts),
                ssm: Tensor::zeros([batch, di, self.cfg.d_state as i64], opts),
            })
            .collect()
    }

    /// [`forward_step`](Self::forward_step) on packed tensors: `input` is flat, every stream's ERB
    /// features (`[B, nb_erb]`) followed by every stream's complex features (`[B, 2, nb_df]`); the result
    /// is flat too, gains `[B, nb_erb]`, then coefficients `[B, nb_df, df_order, 2]`, then LSNR `[B]`.
    /// One tensor each way lets a step cross the host–device boundary once in each direction, and gives a
    /// CUDA graph fixed input and output buffers.
    pub fn forward_step_packed(&self, input: &Tensor, state: &mut [LayerState]) -> Tensor {
        let b = input.size()[0] / self.packed_input_len();
        let (erb, spec) = self.unpack(input, &[b]);
        pack(&self.forward_step(&erb, &spec, state))
    }

    /// [`forward_seq`](Self::forward_seq) on packed tensors laid out as in
    /// [`forward_step_packed`](Self::forward_step_packed) with `[B, T]` in place of `[B]`.
    pub fn forward_seq_packed(&self, input: &Tensor, batch: i64, frames: i64) -> Tensor {
        let (erb, spec) = self.unpack(input, &[batch, frames]);
        pack(&self.forward_seq(&erb, &spec))
    }

    /// Values per frame and stream in a packed input.
    pub fn packed_input_len(&self) -> i64 {
        (self.cfg.nb_erb + 2 * self.cfg.nb_df) as i64
    }

    /// Views of a packed input as `erb [lead.., nb_erb]` and `spec [lead.., 2, nb_df]`.
    fn unpack(&self, input: &Tensor, lead: &[i64]) -> (Tensor, Tensor) {
        let (nb_erb, nb_df) = (self.cfg.nb_erb as i64, self.cfg.nb_df as i64);
        let n: i64 = lead.iter().product();
        let shape = |tail: &[i64]| [lead, tail].concat();
        (
            input
                .narrow(0, 0, n * nb_erb)
                .view(shape(&[nb_erb]).as_slice()),
            input
                .narrow(0, n * nb_erb, n * 2 * nb_df)
                .view(shape(&[2, nb_df]).as_slice()),
        )
    }

    /// One frame: `erb [B, nb_erb]`, `spec [B, 2, nb_df]`; advances `state` in place.
    pub fn forward_step(&self, erb: &Tensor, spec: &Tensor, state: &mut [LayerState]) -> NetOutput {
        let (mut x, skips) = self.encode(erb, spec);
        let eps = f64::from(self.cfg.norm_eps);
        for (layer, st) in self.layers.iter().zip(state.iter_mut()) {
            x = layer.forward_step(&x, st, eps);
        }
        let x = rms_norm(&x, &self.norm_f, eps);
        self.decode(&x, &skips)
    }
}

/// The outputs as one flat tensor: gains, then coefficients, then LSNR (see
/// [`DfNet4::forward_step_packed`]).
fn pack(o: &NetOutput) -> Tensor {
    Tensor::cat(
        &[
            o.gains.reshape([-1]),
            o.coefs.reshape([-1]),
            o.lsnr_db.reshape([-1]),
        ],
        0,
    )
}

impl MambaLayer {
    /// `dt [.., di]`, `B [.., N]`, `C [.., N]` from the conv output (selective parameters).
    fn selective(&self, xc: &Tensor) -> (Tensor, Tensor, Tensor) {
        let n = self.a_log.size()[1];
        let r = self.dt_proj.w.size()[1];
        let dbc = xc.linear(&self.x_proj, None::<Tensor>);
        let dt = self.dt_proj.linear(&dbc.narrow(-1, 0, r)).softplus();
        (dt, dbc.narrow(-1, r, n), dbc.narrow(-1, r + n, n))
    }

    fn forward_seq(&self, x: &Tensor, eps: f64, mark: &mut dyn FnMut(&'static str)) -> Tensor {
        let di = self.d.size()[0];
        let k = self.conv_w.size()[2];
        let xz = rms_norm(x, &self.norm_w, eps).linear(&self.in_proj, None::<Tensor>);
        let (xi, z) = (xz.narrow(-1, 0, di), xz.narrow(-1, di, di));
        mark("mamba.in_proj");
        // Causal depthwise conv over time: K−1 zeros in front, no padding after.
        let padded = xi.transpose(1, 2).constant_pad_nd([k - 1, 0]);
        let xc = conv1d(&padded, &self.conv_w, Some(&self.conv_b), 1, 0, di)
            .transpose(1, 2)
            .silu();
        mark("mamba.conv");
        let (dt, bm, cm) = self.selective(&xc);
        mark("mamba.selective");
        let rates = -self.a_log.exp(); // [di, N]
        let training = rates.requires_grad() || xc.requires_grad();
        let y_ssm = if training
            && fused_scan::training_scan() == TrainingScan::Fused
            && fused_scan::applies(&xc, &rates)
        {
            // One fused operation with its own backward (the trainer checked that it loads).
            fused_scan::selective_scan(&xc, &dt, &rates, &bm, &cm).unwrap_or_else(|e| panic!("{e}"))
        } else {
            let a = (dt.unsqueeze(-1) * &rates).exp(); // [B, T, di, N], Eq. (4) ZOH
            let bx = (&dt * &xc).unsqueeze(-1) * bm.unsqueeze(-2);
            // Inference may scan in the memory of `a` and `bx` (their last use); autograd needs the
            // out-of-place form.
            let h = if training {
                linear_scan(&a, &bx)
            } else {
                linear_scan_in_place(a, bx)
            };
            h.matmul(&cm.unsqueeze(-1)).squeeze_dim(-1)
        };
        mark("mamba.scan");
        let y = y_ssm + &xc * &self.d;
        let out = x + (y * z.silu()).linear(&self.out_proj, None::<Tensor>);
        mark("mamba.out");
        out
    }

    fn forward_step(&self, x: &Tensor, st: &mut LayerState, eps: f64) -> Tensor {
        let di = self.d.size()[0];
        let k = self.conv_w.size()[2];
        let xz = rms_norm(x, &self.norm_w, eps).linear(&self.in_proj, None::<Tensor>);
        let (xi, z) = (xz.narrow(-1, 0, di), xz.narrow(-1, di, di));
        let window = Tensor::cat(&[&st.conv, &xi.unsqueeze(-1)], -1); // [B, di, K]
        let xc = ((&window * self.conv_w.squeeze_dim(1)).sum_dim_intlist(-1, false, None)
            + &self.conv_b)
            .silu();
        // The state is updated in place (same memory every step), so that a CUDA graph captured over
        // this step chains its replays through it.
        st.conv.copy_(&window.narrow(-1, 1, k - 1));
        let (dt, bm, cm) = self.selective(&xc);
        let a = (dt.unsqueeze(-1) * -self.a_log.exp()).exp(); // [B, di, N]
        let bx = (&dt * &xc).unsqueeze(-1) * bm.unsqueeze(1);
        let _ = st.ssm.g_mul_(&a).g_add_(&bx);
        let y = st.ssm.matmul(&cm.unsqueeze(-1)).squeeze_dim(-1) + &xc * &self.d;
        x + (y * z.silu()).linear(&self.out_proj, None::<Tensor>)
    }
}
