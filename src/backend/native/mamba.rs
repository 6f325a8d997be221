//! The Mamba stack of DfNet4 on the native backend: pre-norm residual Mamba blocks (Gu & Dao 2023,
//! Alg. 2) with their recurrent state (causal-conv history ring and SSM state per stream and layer).
//!
//! The projections (`in_proj`, `x_proj`, `dt_proj`, `out_proj`) act on `n` frames at once; only the
//! depthwise conv step and the selective scan walk the frames in order. `n` frames are either one frame
//! of each of `n` streams ([`Streams::Each`], `step`) or `n` consecutive frames of stream 0
//! ([`Streams::Sequential`], `run_sequence`).
use super::layers::tensor;
use super::packed::{self, PackedMat, WeightPrecision};
use super::simd::{self, Isa};
use crate::model::Weights;
use crate::stage::Stage;
use crate::Result;

/// How the `n` frames handed to [`Mamba::forward`] map onto streams of the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Streams {
    /// Frame `j` is the next frame of stream `j`.
    Each,
    /// The frames are consecutive frames of stream 0.
    Sequential,
}

/// Sizes of one Mamba block.
#[derive(Debug, Clone, Copy)]
pub(super) struct Dims {
    /// Model width.
    pub d: usize,
    /// Inner width.
    pub di: usize,
    /// SSM state size per channel.
    pub n: usize,
    /// Rank of the time-step projection.
    pub r: usize,
    /// Depthwise conv width over time.
    pub k: usize,
}

impl Dims {
    fn hist(&self) -> usize {
        (self.k - 1) * self.di
    }
    fn ssm(&self) -> usize {
        self.n * self.di
    }
    fn dbc(&self) -> usize {
        self.r + 2 * self.n
    }
}

/// One block's weights, laid out for the kernels.
pub(super) struct MambaLayer {
    norm_w: Vec<f32>,
    /// `[2·di][d]`.
    in_proj: PackedMat,
    /// Transposed depthwise conv weight `[K][di]`.
    conv_w: Vec<f32>,
    conv_b: Vec<f32>,
    /// `[R + 2N][di]`.
    x_proj: PackedMat,
    /// Transposed `[R][di]`.
    dt_proj_t: Vec<f32>,
    dt_b: Vec<f32>,
    /// `A = −exp(A_log)`, transposed `[N][di]`.
    a: Vec<f32>,
    d_skip: Vec<f32>,
    /// `[d][di]`.
    out_proj: PackedMat,
}

/// Transposes a row-major `[rows][cols]` matrix.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols)
        .map(|i| m[(i % rows) * cols + i / rows])
        .collect()
}

impl MambaLayer {
    fn load(w: &Weights, l: usize, dm: Dims, precision: WeightPrecision) -> Result<Self> {
        let p = format!("mamba.layers.{l}");
        let t = |name: &str, len| tensor(w, &format!("{p}.{name}"), len);
        let (d, di, n, r, k) = (dm.d, dm.di, dm.n, dm.r, dm.k);
        let a_log = t("mixer.A_log", di * n)?;
        let a: Vec<f32> = a_log.iter().map(|v| -v.exp()).collect();
        Ok(Self {
            norm_w: t("norm.weight", d)?,
            in_proj: PackedMat::pack(
                &t("mixer.in_proj.weight", 2 * di * d)?,
                2 * di,
                d,
                precision,
            )?,
            conv_w: transpose(&t("mixer.conv1d.weight", di * k)?, di, k),
            conv_b: t("mixer.conv1d.bias", di)?,
            x_proj: PackedMat::pack(
                &t("mixer.x_proj.weight", dm.dbc() * di)?,
                dm.dbc(),
                di,
                precision,
            )?,
            dt_proj_t: transpose(&t("mixer.dt_proj.weight", di * r)?, di, r),
            dt_b: t("mixer.dt_proj.bias", di)?,
            a: transpose(&a, di, n),
            d_skip: t("mixer.D", di)?,
            out_proj: PackedMat::pack(&t("mixer.out_proj.weight", d * di)?, d, di, precision)?,
        })
    }
}

/// Recurrent memory of all blocks for `streams` streams.
pub(super) struct MambaState {
    /// Frames seen per stream; selects the conv-history ring slot.
    frames: Vec<u64>,
    /// `[B][L][K−1][di]`: past conv inputs, slot `t mod (K−1)` holds frame `t`.
    conv: Vec<f32>,
    /// `[B][L][N][di]`.
    ssm: Vec<f32>,
}

impl MambaState {
    /// Zeroes everything (the fresh state).
    pub fn reset(&mut self) {
        self.frames.fill(0);
        self.conv.fill(0.0);
        self.ssm.fill(0.0);
    }
}

/// Scratch for `n` frames.
pub(super) struct MambaScratch {
    u: Vec<f32>,
    xz: Vec<f32>,
    xc: Vec<f32>,
    dbc: Vec<f32>,
    dt: Vec<f32>,
    y: Vec<f32>,
    slots: Vec<usize>,
}

/// The whole stack plus the final norm.
pub(super) struct Mamba {
    layers: Vec<MambaLayer>,
    norm_f: Vec<f32>,
    dims: Dims,
    eps: f32,
}

impl Mamba {
    /// Loads the `mamba.*` weights (the projections stored in `precision`).
    pub fn load(w: &Weights, precision: WeightPrecision) -> Result<Self> {
        let cfg = w.config();
        let dims = Dims {
            d: cfg.d_model,
            di: cfg.d_inner(),
            n: cfg.d_state,
            r: cfg.dt_rank,
            k: cfg.d_conv,
        };
        Ok(Self {
            layers: (0..cfg.n_layers)
                .map(|l| MambaLayer::load(w, l, dims, precision))
                .collect::<Result<_>>()?,
            norm_f: tensor(w, "mamba.norm_f.weight", cfg.d_model)?,
            dims,
            eps: cfg.norm_eps,
        })
    }

    /// A fresh state for `streams` streams.
    pub fn new_state(&self, streams: usize) -> MambaState {
        let l = self.layers.len();
        MambaState {
            frames: vec![0; streams],
            conv: vec![0.0; streams * l * self.dims.hist()],
            ssm: vec![0.0; streams * l * self.dims.ssm()],
        }
    }

    /// Scratch for up to `n` frames per call.
    pub fn new_scratch(&self, n: usize) -> MambaScratch {
        let dm = self.dims;
        MambaScratch {
            u: vec![0.0; n * dm.d],
            xz: vec![0.0; n * 2 * dm.di],
            xc: vec![0.0; n * dm.di],
            dbc: vec![0.0; n * dm.dbc()],
            dt: vec![0.0; n * dm.di],
            y: vec![0.0; n * dm.di],
            slots: vec![0; dm.k - 1],
        }
    }

    /// Runs all blocks and the final norm on `x` (`[n][d]`, in place), advancing `state`.
    pub fn forward<P: FnMut(Stage)>(
        &self,
        isa: Isa,
        x: &mut [f32],
        st: &mut MambaState,
        mode: Streams,
        s: &mut MambaScratch,
        probe: &mut P,
    ) {
        let n = x.len() / self.dims.d;
        for l in 0..self.layers.len() {
            self.layer(isa, l, x, st, mode, s, probe);
        }
        match mode {
            Streams::Each => st.frames[..n].iter_mut().for_each(|f| *f += 1),
            Streams::Sequential => st.frames[0] += n as u64,
        }
        for xv in x.chunks_exact_mut(self.dims.d) {
            simd::rmsnorm_inplace(isa, xv, &self.norm_f, self.eps);
        }
        probe(Stage::FinalNorm);
    }

    /// One residual block `x += mixer(rmsnorm(x))` for the `n` frames of `x`; reads `st.frames` as the
    /// frame index of each frame's first use (it is advanced by [`Mamba::forward`] after all layers).
    #[allow(clippy::too_many_arguments)]
    pub fn layer<P: FnMut(Stage)>(
        &self,
        isa: Isa,
        l: usize,
        x: &mut [f32],
        st: &mut MambaState,
        mode: Streams,
        s: &mut MambaScratch,
        probe: &mut P,
    ) {
        let (dm, ly, nl) = (self.dims, &self.layers[l], self.layers.len());
        let (d, di) = (dm.d, dm.di);
        let n = x.len() / d;
        let u = &mut s.u[..n * d];
        u.copy_from_slice(x);
        for uv in u.chunks_exact_mut(d) {
            simd::rmsnorm_inplace(isa, uv, &ly.norm_w, self.eps);
        }
        let xz = &mut s.xz[..n * 2 * di];
        xz.fill(0.0);
        packed::gemv_acc(isa, &ly.in_proj, u, xz);
        probe(Stage::InProj(l));

        let stream_frame = |j: usize, frames: &[u64]| match mode {
            Streams::Each => (j, frames[j]),
            Streams::Sequential => (0, frames[0] + j as u64),
        };
        let xc = &mut s.xc[..n * di];
        for (j, (xzj, xcj)) in xz
            .chunks_exact(2 * di)
            .zip(xc.chunks_exact_mut(di))
            .enumerate()
        {
            let (b, t) = stream_frame(j, &st.frames);
            let hist = &mut st.conv[(b * nl + l) * dm.hist()..][..dm.hist()];
            let xi = &xzj[..di];
            if dm.k > 1 {
                let ring = (dm.k - 1) as u64;
                for (k, slot) in s.slots.iter_mut().enumerate() {
                    *slot = ((t + k as u64) % ring) as usize;
                }
                simd::causal_conv_silu(isa, &ly.conv_w, &ly.conv_b, hist, &s.slots, xi, xcj);
                // Frame t replaces frame t − (K−1), the oldest, in the same slot.
                let slot = (t % ring) as usize;
                hist[slot * di..(slot + 1) * di].copy_from_slice(xi);
            } else {
                simd::causal_conv_silu(isa, &ly.conv_w, &ly.conv_b, hist, &[], xi, xcj);
            }
        }

        probe(Stage::Conv(l));
        let dbc = &mut s.dbc[..n * dm.dbc()];
        dbc.fill(0.0);
        packed::gemv_acc(isa, &ly.x_proj, xc, dbc);
        let dt = &mut s.dt[..n * di];
        for (dtj, dbcj) in dt.chunks_exact_mut(di).zip(dbc.chunks_exact(dm.dbc())) {
            dtj.copy_from_slice(&ly.dt_b);
            simd::gemv_t_acc(isa, &ly.dt_proj_t, &dbcj[..dm.r], dtj);
        }
        simd::softplus_inplace(isa, dt);
        probe(Stage::XDtProj(l));

        let y = &mut s.y[..n * di];
        for (j, yj) in y.chunks_exact_mut(di).enumerate() {
            let (b, _) = stream_frame(j, &st.frames);
            let h = &mut st.ssm[(b * nl + l) * dm.ssm()..][..dm.ssm()];
            let dbcj = &dbc[j * dm.dbc()..][..dm.dbc()];
            let (bv, cv) = dbcj[dm.r..].split_at(dm.n);
            let (dtj, xcj) = (&dt[j * di..][..di], &xc[j * di..][..di]);
            simd::ssm_step(isa, &ly.a, dtj, bv, cv, &ly.d_skip, xcj, h, yj);
            simd::mul_silu(isa, yj, &xz[j * 2 * di + di..][..di]);
        }
        probe(Stage::ScanGate(l));
        packed::gemv_acc(isa, &ly.out_proj, y, x);
        probe(Stage::OutProj(l));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use safetensors::tensor::{Dtype, TensorView};

    /// Random weights with `A_log`, `D` and the norm weights varied per element too (the random
    /// initialiser makes them constant along channels, which would hide a transposition).
    fn varied_weights(cfg: &ModelConfig) -> Weights<'static> {
        let base = Weights::random(cfg, 21);
        let owned: Vec<(String, Vec<u8>, Vec<usize>)> = base
            .tensors()
            .iter()
            .map(|(name, t)| {
                let data = t.data.iter().enumerate().map(|(i, &v)| {
                    let jitter = ((i * 7919 % 1000) as f32) / 1000.0;
                    if name.ends_with("A_log") {
                        v + jitter - 0.5
                    } else if name.ends_with(".D") || name.contains("norm") {
                        0.5 + jitter
                    } else {
                        v
                    }
                });
                let bytes = data.flat_map(f32::to_le_bytes).collect();
                (name.clone(), bytes, t.shape.clone())
            })
            .collect();
        let views = owned.iter().map(|(n, b, s)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        });
        let bytes = safetensors::serialize(views.collect::<Vec<_>>(), None).unwrap();
        Weights::from_safetensors_bytes(cfg, &bytes)
            .unwrap()
            .into_owned()
    }

    /// Plain-loop f64 Mamba block (models/README.md) on one frame; `past` holds the last K−1 inputs of
    /// the depthwise conv (oldest first), `h` is `[di][N]`.
    fn naive_block(
        w: &Weights,
        l: usize,
        x: &[f64],
        past: &mut Vec<Vec<f64>>,
        h: &mut [f64],
    ) -> Vec<f64> {
        let cfg = w.config();
        let (d, di, n, r, k) = (
            cfg.d_model,
            cfg.d_inner(),
            cfg.d_state,
            cfg.dt_rank,
            cfg.d_conv,
        );
        let g = |s: &str| -> Vec<f64> {
            let t = w.get(&format!("mamba.layers.{l}.{s}")).unwrap();
            t.data.iter().map(|v| *v as f64).collect()
        };
        let (norm, in_proj, cw, cb) = (
            g("norm.weight"),
            g("mixer.in_proj.weight"),
            g("mixer.conv1d.weight"),
            g("mixer.conv1d.bias"),
        );
        let (x_proj, dt_w, dt_b) = (
            g("mixer.x_proj.weight"),
            g("mixer.dt_proj.weight"),
            g("mixer.dt_proj.bias"),
        );
        let (a_log, dd, out_proj) = (g("mixer.A_log"), g("mixer.D"), g("mixer.out_proj.weight"));
        let ms: f64 = x.iter().map(|v| v * v).sum::<f64>() / d as f64;
        let u: Vec<f64> = (0..d)
            .map(|i| x[i] / (ms + cfg.norm_eps as f64).sqrt() * norm[i])
            .collect();
        let xz: Vec<f64> = (0..2 * di)
            .map(|o| (0..d).map(|i| in_proj[o * d + i] * u[i]).sum())
            .collect();
        let silu = |v: f64| v / (1.0 + (-v).exp());
        let mut xc = vec![0.0; di];
        for c in 0..di {
            let mut acc = cb[c] + cw[c * k + k - 1] * xz[c];
            for (j, p) in past.iter().enumerate() {
                acc += cw[c * k + j] * p[c];
            }
            xc[c] = silu(acc);
        }
        past.remove(0);
        past.push(xz[..di].to_vec());
        let dbc: Vec<f64> = (0..r + 2 * n)
            .map(|o| (0..di).map(|i| x_proj[o * di + i] * xc[i]).sum())
            .collect();
        let mut gated = vec![0.0; di];
        for c in 0..di {
            let pre: f64 = dt_b[c] + (0..r).map(|j| dt_w[c * r + j] * dbc[j]).sum::<f64>();
            let dt = (1.0 + pre.exp()).ln();
            let mut y = dd[c] * xc[c];
            for s in 0..n {
                let a = -a_log[c * n + s].exp();
                h[c * n + s] = (dt * a).exp() * h[c * n + s] + dt * dbc[r + s] * xc[c];
                y += dbc[r + n + s] * h[c * n + s];
            }
            gated[c] = y * silu(xz[di + c]);
        }
        (0..d)
            .map(|o| {
                x[o] + (0..di)
                    .map(|i| out_proj[o * di + i] * gated[i])
                    .sum::<f64>()
            })
            .collect()
    }

    #[test]
    fn block_matches_naive_f64_over_frames_in_both_modes() {
        let cfg = ModelConfig::default();
        let w = varied_weights(&cfg);
        let m = Mamba::load(&w, WeightPrecision::F32).unwrap();
        let (d, di, l, frames, streams) = (cfg.d_model, cfg.d_inner(), 2, 7, 2);
        let input = |b: usize, t: usize| -> Vec<f32> {
            (0..d)
                .map(|i| (((i * 31 + t * 17 + b * 5) % 23) as f32 - 11.0) / 7.0)
                .collect()
        };
        let isa = Isa::detect();
        // Sequential: all frames of one stream in one call; Each: two streams, one call per frame.
        let mut seq_state = m.new_state(1);
        let mut seq_x: Vec<f32> = (0..frames).flat_map(|t| input(0, t)).collect();
        m.layer(
            isa,
            l,
            &mut seq_x,
            &mut seq_state,
            Streams::Sequential,
            &mut m.new_scratch(frames),
            &mut |_| {},
        );
        let mut each_state = m.new_state(streams);
        let mut scratch = m.new_scratch(streams);
        for b in 0..streams {
            let mut past = vec![vec![0.0; di]; cfg.d_conv - 1];
            let mut h = vec![0.0; di * cfg.d_state];
            for t in 0..frames {
                let want = naive_block(
                    &w,
                    l,
                    &input(b, t).iter().map(|v| *v as f64).collect::<Vec<_>>(),
                    &mut past,
                    &mut h,
                );
                let scale = want.iter().fold(0f64, |a, v| a.max(v.abs()));
                if b == 0 {
                    let got = &seq_x[t * d..(t + 1) * d];
                    let err = got
                        .iter()
                        .zip(&want)
                        .fold(0f64, |a, (g, w)| a.max((*g as f64 - w).abs()));
                    assert!(
                        err < 2e-6 * scale,
                        "sequential frame {t}: {err} (scale {scale})"
                    );
                }
                if b == streams - 1 {
                    // Step both streams at frame t (stream 0 replayed, its values already checked).
                    let mut x: Vec<f32> = (0..streams).flat_map(|s| input(s, t)).collect();
                    m.layer(
                        isa,
                        l,
                        &mut x,
                        &mut each_state,
                        Streams::Each,
                        &mut scratch,
                        &mut |_| {},
                    );
                    each_state.frames.iter_mut().for_each(|f| *f += 1);
                    let got = &x[b * d..(b + 1) * d];
                    let err = got
                        .iter()
                        .zip(&want)
                        .fold(0f64, |a, (g, w)| a.max((*g as f64 - w).abs()));
                    assert!(
                        err < 2e-6 * scale,
                        "stream {b} frame {t}: {err} (scale {scale})"
                    );
                    assert_eq!(x[..d], seq_x[t * d..(t + 1) * d]);
                }
            }
        }
    }
}
