//! A deliberately plain f64 transcription of models/README.md (nested loops, PyTorch weight layouts read
//! directly), used to check the optimised native backend. Written independently of src/backend/native.
use dfn4::config::ModelConfig;
use dfn4::model::Weights;
use safetensors::tensor::{Dtype, TensorView};

/// Seeded random weights where the tensors `Weights::random` initialises to constants (`A_log`, `D`, the
/// norm weights) are randomised too, so a transposed or misindexed one cannot go unnoticed.
pub fn perturbed_weights(cfg: &ModelConfig, seed: u64) -> Weights<'static> {
    let base = Weights::random(cfg, seed);
    let mut state = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f64 / (1u64 << 24) as f64
    };
    let tensors: Vec<(String, Vec<u8>, Vec<usize>)> = base
        .tensors()
        .iter()
        .map(|(name, t)| {
            let data: Vec<f32> = t
                .data
                .iter()
                .map(|&v| {
                    if name.ends_with("A_log") {
                        v + (uniform() as f32 - 0.5)
                    } else if name.ends_with(".D") || name.contains("norm") {
                        0.5 + uniform() as f32
                    } else {
                        v
                    }
                })
                .collect();
            let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), bytes, t.shape.clone())
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, b, s)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, None).unwrap();
    Weights::from_safetensors_bytes(cfg, &bytes)
        .unwrap()
        .into_owned()
}

fn get(w: &Weights, name: &str) -> Vec<f64> {
    w.get(name)
        .unwrap()
        .data
        .iter()
        .map(|v| *v as f64)
        .collect()
}

/// PyTorch Conv1d, kernel 3, padding 1: `x` is `[in][f_in]`, result `[out][ceil(f_in/stride)]`.
fn conv(w: &Weights, name: &str, x: &[f64], in_ch: usize, stride: usize) -> Vec<f64> {
    let wt = get(w, &format!("{name}.weight"));
    let b = get(w, &format!("{name}.bias"));
    let (out_ch, f_in) = (b.len(), x.len() / in_ch);
    let kernel = wt.len() / (out_ch * in_ch);
    let pad = kernel / 2;
    let f_out = f_in.div_ceil(stride);
    let mut y = vec![0.0; out_ch * f_out];
    for o in 0..out_ch {
        for f in 0..f_out {
            let mut acc = b[o];
            for i in 0..in_ch {
                for k in 0..kernel {
                    let pos = (f * stride + k) as isize - pad as isize;
                    if pos >= 0 && (pos as usize) < f_in {
                        acc += wt[(o * in_ch + i) * kernel + k] * x[i * f_in + pos as usize];
                    }
                }
            }
            y[o * f_out + f] = acc;
        }
    }
    y
}

fn linear(w: &Weights, name: &str, x: &[f64], bias: bool) -> Vec<f64> {
    let wt = get(w, &format!("{name}.weight"));
    let out = wt.len() / x.len();
    let b = if bias {
        get(w, &format!("{name}.bias"))
    } else {
        vec![0.0; out]
    };
    (0..out)
        .map(|o| {
            b[o] + (0..x.len())
                .map(|i| wt[o * x.len() + i] * x[i])
                .sum::<f64>()
        })
        .collect()
}

fn relu(x: Vec<f64>) -> Vec<f64> {
    x.into_iter().map(|v| v.max(0.0)).collect()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn rmsnorm(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    x.iter()
        .zip(w)
        .map(|(v, g)| v / (ms + eps).sqrt() * g)
        .collect()
}

fn up2(x: &[f64], ch: usize) -> Vec<f64> {
    let f = x.len() / ch;
    (0..ch * 2 * f)
        .map(|i| x[(i / (2 * f)) * f + (i % (2 * f)) / 2])
        .collect()
}

/// Recurrent state of the reference: per layer, the last `K−1` conv inputs (oldest first) and `h[c][n]`.
pub struct RefState {
    past: Vec<Vec<Vec<f64>>>,
    h: Vec<Vec<f64>>,
}

impl RefState {
    /// Zero state.
    pub fn new(cfg: &ModelConfig) -> Self {
        let di = cfg.d_inner();
        Self {
            past: vec![vec![vec![0.0; di]; cfg.d_conv - 1]; cfg.n_layers],
            h: vec![vec![0.0; di * cfg.d_state]; cfg.n_layers],
        }
    }
}

/// One Mamba residual block, exactly as written in models/README.md.
pub fn mamba_block(w: &Weights, l: usize, x: &[f64], st: &mut RefState) -> Vec<f64> {
    let cfg = w.config();
    let (di, n, r, k) = (cfg.d_inner(), cfg.d_state, cfg.dt_rank, cfg.d_conv);
    let p = format!("mamba.layers.{l}");
    let u = rmsnorm(x, &get(w, &format!("{p}.norm.weight")), cfg.norm_eps as f64);
    let xz = linear(w, &format!("{p}.mixer.in_proj"), &u, false);
    let (xi, z) = xz.split_at(di);
    let cw = get(w, &format!("{p}.mixer.conv1d.weight"));
    let cb = get(w, &format!("{p}.mixer.conv1d.bias"));
    let mut xc = vec![0.0; di];
    for c in 0..di {
        let mut acc = cb[c];
        for kk in 0..k {
            let input = if kk + 1 == k {
                xi[c]
            } else {
                st.past[l][kk][c]
            };
            acc += cw[c * k + kk] * input;
        }
        xc[c] = acc * sigmoid(acc);
    }
    if k > 1 {
        st.past[l].remove(0);
        st.past[l].push(xi.to_vec());
    }
    let dbc = linear(w, &format!("{p}.mixer.x_proj"), &xc, false);
    let dt_pre = linear(w, &format!("{p}.mixer.dt_proj"), &dbc[..r], true);
    let a_log = get(w, &format!("{p}.mixer.A_log"));
    let d = get(w, &format!("{p}.mixer.D"));
    let mut g = vec![0.0; di];
    for c in 0..di {
        let dt = dt_pre[c].exp().ln_1p();
        let mut y = d[c] * xc[c];
        for s in 0..n {
            let a = -a_log[c * n + s].exp();
            let h = &mut st.h[l][c * n + s];
            *h = (dt * a).exp() * *h + dt * dbc[r + s] * xc[c];
            y += dbc[r + n + s] * *h;
        }
        g[c] = y * z[c] * sigmoid(z[c]);
    }
    let o = linear(w, &format!("{p}.mixer.out_proj"), &g, false);
    x.iter().zip(o).map(|(a, b)| a + b).collect()
}

/// One frame of the whole network: `(gains [nb_erb], coefs [nb_df·O·2], lsnr_db)`.
pub fn frame(
    w: &Weights,
    erb: &[f32],
    spec: &[f32],
    st: &mut RefState,
) -> (Vec<f64>, Vec<f64>, f64) {
    let cfg = w.config();
    let c = cfg.conv_ch;
    let erb: Vec<f64> = erb.iter().map(|v| *v as f64).collect();
    let spec: Vec<f64> = spec.iter().map(|v| *v as f64).collect();
    let e0 = relu(conv(w, "enc.erb_conv0", &erb, 1, 1));
    let e1 = relu(conv(w, "enc.erb_conv1", &e0, c, 2));
    let e2 = relu(conv(w, "enc.erb_conv2", &e1, c, 2));
    let c0 = relu(conv(w, "enc.df_conv0", &spec, 2, 1));
    let c1 = relu(conv(w, "enc.df_conv1", &c0, c, 2));
    let c2 = relu(conv(w, "enc.df_conv2", &c1, c, 2));
    let cat: Vec<f64> = e2.iter().chain(&c2).copied().collect();
    let mut x = relu(linear(w, "enc.fuse", &cat, true));
    for l in 0..cfg.n_layers {
        x = mamba_block(w, l, &x, st);
    }
    let x = rmsnorm(&x, &get(w, "mamba.norm_f.weight"), cfg.norm_eps as f64);

    let add = |a: Vec<f64>, b: &[f64]| a.into_iter().zip(b).map(|(p, q)| p + q).collect::<Vec<_>>();
    let g = add(relu(linear(w, "dec.erb_fc", &x, true)), &e2);
    let g = add(relu(conv(w, "dec.erb_conv1", &up2(&g, c), c, 1)), &e1);
    let g = add(relu(conv(w, "dec.erb_conv0", &up2(&g, c), c, 1)), &e0);
    let gains: Vec<f64> = conv(w, "dec.erb_out", &g, c, 1)
        .into_iter()
        .map(sigmoid)
        .collect();

    let h1 = relu(linear(w, "dec.df_fc0", &x, true));
    let raw = linear(w, "dec.df_out", &h1, true);
    let skip = conv(w, "dec.df_skip", &c0, c, 1);
    let (nb_df, two_o) = (cfg.nb_df, 2 * cfg.df_order);
    let mut coefs = vec![0.0; nb_df * two_o];
    for f in 0..nb_df {
        for o in 0..cfg.df_order {
            for ri in 0..2 {
                let ch = o * 2 + ri;
                coefs[f * two_o + ch] = (raw[f * two_o + ch] + skip[ch * nb_df + f]).tanh();
            }
        }
    }
    let lsnr = sigmoid(linear(w, "dec.lsnr_fc", &x, true)[0]) * (35.0 - (-15.0)) + (-15.0);
    (gains, coefs, lsnr)
}
