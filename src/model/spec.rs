//! DfNet4 layer list: names (PyTorch module paths) and shapes, derived from a [`ModelConfig`].
//! Every backend and the trainer read this one list, so a renamed or reshaped layer fails loudly everywhere.
use crate::config::ModelConfig;

/// One named parameter tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightSpec {
    /// PyTorch-style dotted key, e.g. `mamba.layers.0.mixer.in_proj.weight`.
    pub name: String,
    /// Shape in PyTorch convention (`Linear`: `[out, in]`, `Conv1d`: `[out, in/groups, k]`).
    pub shape: Vec<usize>,
}

fn w(name: impl Into<String>, shape: &[usize]) -> WeightSpec {
    WeightSpec {
        name: name.into(),
        shape: shape.to_vec(),
    }
}

/// Kernel size of every frequency convolution in the encoders and the ERB decoder.
pub const CONV_KERNEL: usize = 3;

/// All parameters of DfNet4 in a fixed order.
pub fn weight_specs(cfg: &ModelConfig) -> Vec<WeightSpec> {
    let c = cfg.conv_ch;
    let k = CONV_KERNEL;
    let d = cfg.d_model;
    let di = cfg.d_inner();
    let mut v = Vec::new();
    // Encoders: Conv1d over frequency (time kernel 1, so trivially causal), ReLU after each.
    for (prefix, in_ch) in [("enc.erb_conv", 1), ("enc.df_conv", 2)] {
        v.push(w(format!("{prefix}0.weight"), &[c, in_ch, k]));
        v.push(w(format!("{prefix}0.bias"), &[c]));
        for i in 1..3 {
            v.push(w(format!("{prefix}{i}.weight"), &[c, c, k]));
            v.push(w(format!("{prefix}{i}.bias"), &[c]));
        }
    }
    v.push(w("enc.fuse.weight", &[d, cfg.enc_concat_dim()]));
    v.push(w("enc.fuse.bias", &[d]));
    // Mamba stack (names as in mamba_ssm's MixerModel / Mamba block).
    for l in 0..cfg.n_layers {
        let p = format!("mamba.layers.{l}");
        v.push(w(format!("{p}.norm.weight"), &[d]));
        v.push(w(format!("{p}.mixer.in_proj.weight"), &[2 * di, d]));
        v.push(w(format!("{p}.mixer.conv1d.weight"), &[di, 1, cfg.d_conv]));
        v.push(w(format!("{p}.mixer.conv1d.bias"), &[di]));
        v.push(w(
            format!("{p}.mixer.x_proj.weight"),
            &[cfg.dt_rank + 2 * cfg.d_state, di],
        ));
        v.push(w(format!("{p}.mixer.dt_proj.weight"), &[di, cfg.dt_rank]));
        v.push(w(format!("{p}.mixer.dt_proj.bias"), &[di]));
        v.push(w(format!("{p}.mixer.A_log"), &[di, cfg.d_state]));
        v.push(w(format!("{p}.mixer.D"), &[di]));
        v.push(w(format!("{p}.mixer.out_proj.weight"), &[d, di]));
    }
    v.push(w("mamba.norm_f.weight", &[d]));
    // ERB decoder: fully connected to [C, nb_erb/4], then two (upsample x2, conv) stages with encoder skips.
    v.push(w("dec.erb_fc.weight", &[c * cfg.erb_enc_bands(), d]));
    v.push(w("dec.erb_fc.bias", &[c * cfg.erb_enc_bands()]));
    for i in [1, 0] {
        v.push(w(format!("dec.erb_conv{i}.weight"), &[c, c, k]));
        v.push(w(format!("dec.erb_conv{i}.bias"), &[c]));
    }
    v.push(w("dec.erb_out.weight", &[1, c, k]));
    v.push(w("dec.erb_out.bias", &[1]));
    // DF decoder: hidden layer, coefficient layer, and a 1x1 skip from the first complex-encoder map.
    v.push(w("dec.df_fc0.weight", &[cfg.df_hidden, d]));
    v.push(w("dec.df_fc0.bias", &[cfg.df_hidden]));
    v.push(w("dec.df_out.weight", &[cfg.df_out_dim(), cfg.df_hidden]));
    v.push(w("dec.df_out.bias", &[cfg.df_out_dim()]));
    v.push(w("dec.df_skip.weight", &[cfg.df_order * 2, c, 1]));
    v.push(w("dec.df_skip.bias", &[cfg.df_order * 2]));
    // LSNR head.
    v.push(w("dec.lsnr_fc.weight", &[1, d]));
    v.push(w("dec.lsnr_fc.bias", &[1]));
    v
}

/// Total number of scalar parameters.
pub fn param_count(cfg: &ModelConfig) -> usize {
    weight_specs(cfg)
        .iter()
        .map(|s| s.shape.iter().product::<usize>())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_sizes_plausible() {
        let cfg = ModelConfig::default();
        let specs = weight_specs(&cfg);
        let mut names: Vec<_> = specs.iter().map(|s| s.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), specs.len());
        let n = param_count(&cfg);
        assert!(n > 2_000_000 && n < 3_000_000, "param count {n}");
    }
}
