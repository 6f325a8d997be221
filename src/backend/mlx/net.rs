//! DfNet4's forward computation (models/README.md) in lazy MLX operations, on [`Params`].
//!
//! Feature maps are channels-last (`[N, bins, C]`, see `params`). Encoders and decoders see `N`
//! independent frames (`N = B` for a step, `B·T` for a sequence); only the Mamba blocks differ between
//! the step form (explicit conv ring and SSM state) and the sequence form (causal conv over time and
//! the chunked parallel scan of [`super::scan`]). Every function only builds the graph; the caller
//! evaluates it, so the same code serves eager calls, `compile` tracing and autograd.
use mlx_rs::error::Exception;
use mlx_rs::ops::{concatenate, conv1d, logaddexp, maximum, sigmoid, split_at_indices, tanh};
use mlx_rs::Array;

use super::params::{Conv, Linear, MambaParams, Params};
use super::scan::linear_scan;
use crate::config::{ModelConfig, LSNR_MAX_DB, LSNR_MIN_DB};

/// Result of an MLX graph-building call.
pub type Mx<T> = std::result::Result<T, Exception>;

fn scalar(v: f32) -> Array {
    Array::from_f32(v)
}

fn relu(x: &Array) -> Mx<Array> {
    maximum(x, scalar(0.0))
}

fn silu(x: &Array) -> Mx<Array> {
    x.multiply(sigmoid(x)?)
}

/// `ln(1 + eˣ)`, written as `logaddexp(x, 0)` so that large `x` does not overflow.
fn softplus(x: &Array) -> Mx<Array> {
    logaddexp(x, scalar(0.0))
}

/// `len` entries of `a` from `start` along `axis` (a lazy slice).
pub fn narrow(a: &Array, axis: i32, start: i32, len: i32) -> Mx<Array> {
    let mut parts = split_at_indices(a, &[start, start + len], axis)?;
    Ok(parts.swap_remove(1))
}

/// Splits the last axis into `P` pieces of the given widths.
fn split_last<const P: usize>(a: &Array, widths: [i32; P]) -> Mx<[Array; P]> {
    let mut cuts = Vec::with_capacity(P);
    let mut at = 0;
    for w in &widths[..P - 1] {
        at += w;
        cuts.push(at);
    }
    split_at_indices(a, &cuts, -1)?
        .try_into()
        .map_err(|_| Exception::custom("split returned the wrong number of parts"))
}

fn linear(x: &Array, l: &Linear) -> Mx<Array> {
    x.matmul(&l.w)?.add(&l.b)
}

/// `Conv1d` over the bins axis of `[N, bins, C_in]`, kernel 3, padding 1 (PyTorch semantics).
fn conv(x: &Array, c: &Conv, stride: i32) -> Mx<Array> {
    conv1d(x, &c.w, stride, 1, 1, 1)?.add(&c.b)
}

/// Nearest-neighbour upsampling ×2 over the bins axis of `[N, bins, C]`.
fn up2(x: &Array) -> Mx<Array> {
    let s = x.shape();
    let (n, f, c) = (s[0], s[1], s[2]);
    mlx_rs::ops::broadcast_to(x.reshape(&[n, f, 1, c])?, &[n, f, 2, c])?.reshape(&[n, 2 * f, c])
}

fn rms_norm(x: &Array, w: &Array, eps: f32) -> Mx<Array> {
    mlx_rs::fast::rms_norm(x, Some(w), eps)
}

/// Encoder feature maps reused by the decoders (U-Net skips), channels-last.
pub struct Skips {
    e0: Array,
    e1: Array,
    e2: Array,
    c0: Array,
}

/// Model outputs for `N` frames.
pub struct Heads {
    /// `[N, nb_erb]`.
    pub gains: Array,
    /// `[N, nb_df, df_order, 2]`.
    pub coefs: Array,
    /// `[N]`.
    pub lsnr_db: Array,
}

/// Encoders: `erb [N, nb_erb]`, `spec [N, 2, nb_df]` → `x [N, d]` and the skips.
pub fn encode(p: &Params, erb: &Array, spec: &Array) -> Mx<(Array, Skips)> {
    let n = erb.shape()[0];
    let e0 = relu(&conv(&erb.reshape(&[n, -1, 1])?, &p.erb_conv[0], 1)?)?;
    let e1 = relu(&conv(&e0, &p.erb_conv[1], 2)?)?;
    let e2 = relu(&conv(&e1, &p.erb_conv[2], 2)?)?;
    // Complex features arrive as [N, 2, bins]: bins become the conv axis, re/im the channels.
    let c0 = relu(&conv(&spec.transpose_axes(&[0, 2, 1])?, &p.df_conv[0], 1)?)?;
    let c1 = relu(&conv(&c0, &p.df_conv[1], 2)?)?;
    let c2 = relu(&conv(&c1, &p.df_conv[2], 2)?)?;
    let cat = concatenate(&[e2.reshape(&[n, -1])?, c2.reshape(&[n, -1])?], 1)?;
    let x = relu(&linear(&cat, &p.fuse)?)?;
    Ok((x, Skips { e0, e1, e2, c0 }))
}

/// Decoders for `N` frames.
pub fn decode(p: &Params, cfg: &ModelConfig, x: &Array, s: &Skips) -> Mx<Heads> {
    let n = x.shape()[0];
    let (c, nb_df, order) = (cfg.conv_ch as i32, cfg.nb_df as i32, cfg.df_order as i32);
    let g = relu(&linear(x, &p.erb_fc)?)?
        .reshape(&[n, -1, c])?
        .add(&s.e2)?;
    let g = relu(&conv(&up2(&g)?, &p.dec_erb_conv1, 1)?)?.add(&s.e1)?;
    let g = relu(&conv(&up2(&g)?, &p.dec_erb_conv0, 1)?)?.add(&s.e0)?;
    let gains = sigmoid(conv(&g, &p.erb_out, 1)?)?.reshape(&[n, -1])?;

    // df_out's outputs are `f·2O + o·2 + re/im` and the skip's channels `o·2 + re/im` per bin, so both
    // are [N, bins, O, 2] after a reshape.
    let raw = linear(&relu(&linear(x, &p.df_fc0)?)?, &p.df_out)?;
    let skip = linear(&s.c0, &p.df_skip)?;
    let coefs = tanh(
        raw.reshape(&[n, nb_df, order, 2])?
            .add(skip.reshape(&[n, nb_df, order, 2])?)?,
    )?;

    let lsnr_db = sigmoid(linear(x, &p.lsnr_fc)?)?
        .reshape(&[n])?
        .multiply(scalar(LSNR_MAX_DB - LSNR_MIN_DB))?
        .add(scalar(LSNR_MIN_DB))?;
    Ok(Heads {
        gains,
        coefs,
        lsnr_db,
    })
}

/// `dt`, `B`, `C` (the selective parameters) from the conv output `xc [.., di]`.
fn selective(l: &MambaParams, cfg: &ModelConfig, xc: &Array) -> Mx<(Array, Array, Array)> {
    let (r, n) = (cfg.dt_rank as i32, cfg.d_state as i32);
    let dbc = xc.matmul(&l.x_proj)?;
    let [dt_raw, bm, cm] = split_last(&dbc, [r, n, n])?;
    let dt = softplus(&linear(&dt_raw, &l.dt_proj)?)?;
    Ok((dt, bm, cm))
}

/// `A = −exp(A_log)`, `[di, N]`.
fn a_matrix(l: &MambaParams) -> Mx<Array> {
    l.a_log.exp()?.negative()
}

/// One Mamba block for one frame of `B` streams: `x [B, d]`; `conv [B, K−1, di]` (oldest first) and
/// `ssm [B, di, N]` are replaced by their next values.
pub fn mamba_step(
    l: &MambaParams,
    cfg: &ModelConfig,
    x: &Array,
    conv: &mut Array,
    ssm: &mut Array,
) -> Mx<Array> {
    let di = cfg.d_inner() as i32;
    let b = x.shape()[0];
    let xz = rms_norm(x, &l.norm, cfg.norm_eps)?.matmul(&l.in_proj)?;
    let [xi, z] = split_last(&xz, [di, di])?;
    let window = concatenate(&[conv.clone(), xi.reshape(&[b, 1, di])?], 1)?; // [B, K, di]
    let xc = silu(
        &window
            .multiply(&l.conv_w)?
            .sum_axis(1, false)?
            .add(&l.conv_b)?,
    )?;
    *conv = narrow(&window, 1, 1, cfg.d_conv as i32 - 1)?;
    let (dt, bm, cm) = selective(l, cfg, &xc)?;
    // Zero-order hold, Gu & Dao 2023 Eq. (4): h ← exp(dt·A) ⊙ h + dt·B·x.
    let a = dt.expand_dims(-1)?.multiply(a_matrix(l)?)?.exp()?; // [B, di, N]
    let bx = dt
        .multiply(&xc)?
        .expand_dims(-1)?
        .multiply(bm.expand_dims(1)?)?;
    *ssm = a.multiply(&*ssm)?.add(&bx)?;
    let y = ssm
        .matmul(cm.expand_dims(-1)?)?
        .reshape(&[b, di])?
        .add(xc.multiply(&l.d)?)?;
    x.add(y.multiply(silu(&z)?)?.matmul(&l.out_proj)?)
}

/// One Mamba block over whole sequences from zero state: `x [B, T, d]`.
pub fn mamba_seq(l: &MambaParams, cfg: &ModelConfig, x: &Array) -> Mx<Array> {
    let di = cfg.d_inner() as i32;
    let k = cfg.d_conv as i32;
    let s = x.shape();
    let (b, t) = (s[0], s[1]);
    let xz = rms_norm(x, &l.norm, cfg.norm_eps)?.matmul(&l.in_proj)?;
    let [xi, z] = split_last(&xz, [di, di])?;
    // Causal depthwise conv over time: K−1 zero frames in front, then tap k sees frame t − K + 1 + k.
    let padded = concatenate(&[Array::zeros::<f32>(&[b, k - 1, di])?, xi], 1)?;
    let mut acc = l.conv_b.clone();
    for tap in 0..k {
        let w = narrow(&l.conv_w, 0, tap, 1)?; // [1, di]
        acc = acc.add(narrow(&padded, 1, tap, t)?.multiply(w)?)?;
    }
    let xc = silu(&acc)?; // [B, T, di]
    let (dt, bm, cm) = selective(l, cfg, &xc)?;
    let a = dt.expand_dims(-1)?.multiply(a_matrix(l)?)?.exp()?; // [B, T, di, N]
    let bx = dt
        .multiply(&xc)?
        .expand_dims(-1)?
        .multiply(bm.expand_dims(2)?)?;
    let h = linear_scan(&a, &bx)?;
    let y = h
        .matmul(cm.expand_dims(-1)?)?
        .reshape(&[b, t, di])?
        .add(xc.multiply(&l.d)?)?;
    x.add(y.multiply(silu(&z)?)?.matmul(&l.out_proj)?)
}

/// One frame of `B` streams: `erb [B, nb_erb]`, `spec [B, 2, nb_df]`; advances the per-layer states.
pub fn forward_step(
    p: &Params,
    cfg: &ModelConfig,
    erb: &Array,
    spec: &Array,
    conv: &mut [Array],
    ssm: &mut [Array],
) -> Mx<Heads> {
    let (mut x, skips) = encode(p, erb, spec)?;
    for ((l, c), h) in p.layers.iter().zip(conv.iter_mut()).zip(ssm.iter_mut()) {
        x = mamba_step(l, cfg, &x, c, h)?;
    }
    let x = rms_norm(&x, &p.norm_f, cfg.norm_eps)?;
    decode(p, cfg, &x, &skips)
}

/// Whole sequences from zero state: `erb [B, T, nb_erb]`, `spec [B, T, 2, nb_df]`; outputs are
/// `[B·T, ...]` (frame-major within each stream, as the `[B, T, ...]` layouts flatten).
pub fn forward_seq(p: &Params, cfg: &ModelConfig, erb: &Array, spec: &Array) -> Mx<Heads> {
    let s = erb.shape();
    let (b, t) = (s[0], s[1]);
    let (x, skips) = encode(
        p,
        &erb.reshape(&[b * t, -1])?,
        &spec.reshape(&[b * t, 2, -1])?,
    )?;
    let mut x = x.reshape(&[b, t, -1])?;
    for l in &p.layers {
        x = mamba_seq(l, cfg, &x)?;
    }
    let x = rms_norm(&x, &p.norm_f, cfg.norm_eps)?.reshape(&[b * t, -1])?;
    decode(p, cfg, &x, &skips)
}
