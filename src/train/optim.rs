//! AdamW (decoupled weight decay, Loshchilov & Hutter 2019) on plain tensors, so its moments can be
//! checkpointed and restored exactly; global gradient-norm clipping; warm-up + cosine learning rate.
use std::collections::{BTreeMap, HashMap};

use super::{train_bail, TrainContext};
use tch::{Kind, Tensor};

/// AdamW state over a fixed, name-sorted parameter list.
pub struct AdamW {
    names: Vec<String>,
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    decay: Vec<bool>,
    /// Number of updates applied so far (bias correction uses it).
    pub step: u64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
}

impl AdamW {
    /// Moments start at zero. Weight decay applies to matrices and convolution kernels only (not to
    /// biases, norm gains, `A_log` or `D`).
    pub fn new(vars: &BTreeMap<String, Tensor>, weight_decay: f64) -> Self {
        let names: Vec<String> = vars.keys().cloned().collect();
        let params: Vec<Tensor> = vars.values().map(|t| t.shallow_clone()).collect();
        let zeros = |p: &Tensor| p.zeros_like().detach();
        Self {
            m: params.iter().map(zeros).collect(),
            v: params.iter().map(zeros).collect(),
            decay: names
                .iter()
                .zip(&params)
                .map(|(n, p)| p.dim() >= 2 && !n.ends_with("A_log"))
                .collect(),
            names,
            params,
            step: 0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        }
    }

    /// Clears the gradients of every parameter.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    /// Clips the global gradient norm to `max_norm`, applies one update with learning rate `lr`, and
    /// returns the gradient norm before clipping.
    pub fn step(&mut self, lr: f64, max_norm: f64) -> f64 {
        tch::no_grad(|| {
            let grads: Vec<Tensor> = self.params.iter().map(|p| p.grad()).collect();
            let sq: Vec<Tensor> = grads
                .iter()
                .filter(|g| g.defined())
                .map(|g| g.square().sum(Kind::Float))
                .collect();
            if sq.is_empty() {
                return 0.0;
            }
            let norm = Tensor::stack(&sq, 0)
                .sum(Kind::Float)
                .sqrt()
                .double_value(&[]);
            let scale = if norm.is_finite() && norm > max_norm {
                max_norm / (norm + 1e-6)
            } else {
                1.0
            };
            if !norm.is_finite() {
                // Skip the update: a NaN/Inf gradient would poison the moments.
                return norm;
            }
            self.step += 1;
            let t = self.step as i32;
            let bc1 = 1.0 - self.beta1.powi(t);
            let bc2 = 1.0 - self.beta2.powi(t);
            let (b1, b2, eps, wd) = (self.beta1, self.beta2, self.eps, self.weight_decay);
            let slots = self
                .params
                .iter_mut()
                .zip(&grads)
                .zip(self.m.iter_mut().zip(self.v.iter_mut()))
                .zip(&self.decay);
            for (((p, g), (m, v)), &decay) in slots {
                if !g.defined() {
                    continue;
                }
                let g = g * scale;
                let _ = m.g_mul_scalar_(b1).g_add_(&(&g * (1.0 - b1)));
                let _ = v.g_mul_scalar_(b2).g_add_(&(g.square() * (1.0 - b2)));
                if decay {
                    let _ = p.g_mul_scalar_(1.0 - lr * wd);
                }
                let denom = (&*v / bc2).sqrt() + eps;
                let _ = p.g_sub_(&(&*m / denom * (lr / bc1)));
            }
            norm
        })
    }

    /// The moments as named tensors (`m.<param>`, `v.<param>`) for a checkpoint.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.names.len());
        for (i, n) in self.names.iter().enumerate() {
            out.push((format!("m.{n}"), self.m[i].shallow_clone()));
            out.push((format!("v.{n}"), self.v[i].shallow_clone()));
        }
        out
    }

    /// Restores moments saved by [`AdamW::state_tensors`] (every parameter must be present).
    pub fn load_state(&mut self, saved: &HashMap<String, Tensor>, step: u64) -> crate::Result<()> {
        tch::no_grad(|| -> crate::Result<()> {
            for (i, n) in self.names.iter().enumerate() {
                for (prefix, dst) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                    let key = format!("{prefix}.{n}");
                    let src = saved
                        .get(&key)
                        .ctx(|| format!("checkpoint lacks optimiser tensor {key}"))?;
                    if src.size() != dst.size() {
                        train_bail!(
                            "optimiser tensor {key} has shape {:?}, expected {:?}",
                            src.size(),
                            dst.size()
                        );
                    }
                    dst.copy_(src);
                }
            }
            Ok(())
        })?;
        self.step = step;
        Ok(())
    }
}

/// Linear warm-up over `warmup` steps, then cosine decay to `min_ratio · base` at `total` steps.
pub fn lr_at(step: u64, base: f64, warmup: u64, total: u64, min_ratio: f64) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let p = ((step - warmup) as f64 / span).min(1.0);
    base * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn schedule_warms_up_then_decays() {
        assert!((lr_at(0, 1.0, 10, 100, 0.1) - 0.1).abs() < 1e-12);
        assert!((lr_at(9, 1.0, 10, 100, 0.1) - 1.0).abs() < 1e-12);
        assert!((lr_at(10, 1.0, 10, 100, 0.1) - 1.0).abs() < 1e-12);
        assert!((lr_at(100, 1.0, 10, 100, 0.1) - 0.1).abs() < 1e-12);
        assert!(lr_at(55, 1.0, 10, 100, 0.1) < 0.6);
    }

    #[test]
    fn minimises_a_quadratic_and_restores_state() {
        let x = Tensor::from_slice(&[3.0f32, -2.0])
            .reshape([1, 2])
            .set_requires_grad(true);
        let mut vars = BTreeMap::new();
        vars.insert("w".to_string(), x.shallow_clone());
        let mut opt = AdamW::new(&vars, 0.0);
        for _ in 0..300 {
            opt.zero_grad();
            x.square().sum(Kind::Float).backward();
            opt.step(0.05, 10.0);
        }
        assert!(x.abs().max().double_value(&[]) < 0.05, "{x}");
        let saved: HashMap<_, _> = opt.state_tensors().into_iter().collect();
        let y = Tensor::zeros([1, 2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let mut vars2 = BTreeMap::new();
        vars2.insert("w".to_string(), y);
        let mut opt2 = AdamW::new(&vars2, 0.0);
        opt2.load_state(&saved, opt.step).unwrap();
        assert_eq!(opt2.step, 300);
        let eq = opt2.state_tensors()[1].1.equal(&saved["v.w"]);
        assert!(eq);
    }
}
