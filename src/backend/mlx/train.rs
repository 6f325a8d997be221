//! Forward + backward of the sequence model through MLX's autograd, the cost of a training step
//! without the optimiser (what `dfn4 bench --train-step` compares across backends).
use std::sync::Mutex;

use mlx_rs::error::Exception;
use mlx_rs::transforms::compile::compile;
use mlx_rs::transforms::value_and_grad_with_argnums;
use mlx_rs::Array;

use super::net::{self, Mx};
use super::params::Params;
use super::{dim, MlxBackend};
use crate::backend::SeqFeatures;
use crate::config::{ModelConfig, LSNR_MAX_DB, LSNR_MIN_DB};
use crate::{Error, Result};

/// Uploaded sequence features `(erb [B, T, nb_erb], spec [B, T, 2, nb_df])`, the inputs of
/// [`MlxBackend::forward_backward`].
pub struct SeqArrays {
    erb: Array,
    spec: Array,
}

// SAFETY: the arrays are only read, under the backend's MLX lock (see `MlxBackend`).
unsafe impl Sync for SeqArrays {}

/// The same loss as the tch backend's `forward_backward`: the mean square of every output head, LSNR
/// scaled to about unit range, so that every parameter gets a gradient.
fn loss(cfg: &ModelConfig, args: &[Array]) -> Mx<Vec<Array>> {
    let bad = || Exception::custom("loss called with the wrong inputs");
    let (head, rest) = args.split_at_checked(2).ok_or_else(bad)?;
    let p = Params::from_arrays(cfg, rest).ok_or_else(bad)?;
    let o = net::forward_seq(&p, cfg, &head[0], &head[1])?;
    let scale = Array::from_f32(1.0 / (LSNR_MAX_DB - LSNR_MIN_DB));
    let l = o
        .gains
        .square()?
        .mean(None)?
        .add(o.coefs.square()?.mean(None)?)?
        .add(o.lsnr_db.multiply(scale)?.square()?.mean(None)?)?;
    Ok(vec![l])
}

/// The input positions `2..2 + count` (the parameters), as the `'static` slice that a compiled
/// autograd closure needs; one allocation per distinct parameter count for the process.
fn param_argnums(count: usize) -> &'static [i32] {
    static CACHE: Mutex<Vec<&'static [i32]>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = cache.iter().find(|s| s.len() == count) {
        return s;
    }
    let s: &'static [i32] = Box::leak((2..2 + count as i32).collect::<Box<[i32]>>());
    cache.push(s);
    s
}

/// `[loss, grads..]` of [`loss`] with respect to the parameters (inputs 2..).
fn loss_and_grads(cfg: ModelConfig) -> impl FnMut(&[Array]) -> Mx<Vec<Array>> + 'static {
    let argnums = param_argnums(Params::count(&cfg));
    let f = move |args: &[Array]| loss(&cfg, args);
    let mut vg = value_and_grad_with_argnums(f, argnums);
    move |args: &[Array]| {
        let (value, grads) = vg(args)?;
        Ok(value.into_iter().chain(grads).collect())
    }
}

impl MlxBackend {
    /// Uploads a batch of sequence features for [`MlxBackend::forward_backward`].
    pub fn seq_arrays(&self, feats: &SeqFeatures) -> Result<SeqArrays> {
        let cfg = &self.cfg;
        let (b, t) = (feats.batch, feats.frames);
        crate::backend::check_sequence_features(cfg, feats)?;
        self.with_mlx(|_| {
            let erb = Array::from_slice(&feats.erb, &[dim(b), dim(t), dim(cfg.nb_erb)]);
            let spec = Array::from_slice(&feats.spec, &[dim(b), dim(t), 2, dim(cfg.nb_df)]);
            mlx_rs::transforms::eval([&erb, &spec])?;
            Ok(SeqArrays { erb, spec })
        })
    }

    /// One forward + backward pass of the sequence model over `x` with the loss of the tch backend's
    /// `forward_backward`; evaluates the loss and every parameter gradient (then drops the gradients:
    /// MLX is functional, there is no `.grad` to leave them in) and returns the loss.
    pub fn forward_backward(&self, x: &SeqArrays) -> Result<f32> {
        let cfg = self.cfg.clone();
        let value = self.with_mlx(|inner| {
            let train_fn = inner
                .train_fn
                .get_or_insert_with(|| Box::new(compile(loss_and_grads(cfg), false)));
            let mut args = Vec::with_capacity(2 + inner.params.len());
            args.extend([x.erb.clone(), x.spec.clone()]);
            args.extend(inner.params.iter().cloned());
            let outs = train_fn(&args)?;
            mlx_rs::transforms::eval(outs.iter())?;
            outs.first()
                .ok_or_else(|| Exception::custom("no loss"))?
                .try_item_exact::<f32>()
                .map_err(|e| Exception::custom(e.to_string()))
        })?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(Error::Backend(format!("training loss is {value}")))
        }
    }

    /// The gradients of [`MlxBackend::forward_backward`]'s loss in [`Params::to_arrays`] order, copied
    /// to the host (for tests against another backend's autograd).
    pub fn gradients(&self, x: &SeqArrays) -> Result<(f32, Vec<Vec<f32>>)> {
        let cfg = self.cfg.clone();
        self.with_mlx(|inner| {
            let mut f = loss_and_grads(cfg);
            let mut args = Vec::with_capacity(2 + inner.params.len());
            args.extend([x.erb.clone(), x.spec.clone()]);
            args.extend(inner.params.iter().cloned());
            let outs = f(&args)?;
            mlx_rs::transforms::eval(outs.iter())?;
            let value = outs[0]
                .try_item_exact::<f32>()
                .map_err(|e| Exception::custom(e.to_string()))?;
            let grads = outs[1..]
                .iter()
                .map(|g| {
                    let g = g.contiguous()?;
                    g.try_as_slice::<f32>()
                        .map(<[f32]>::to_vec)
                        .map_err(|e| Exception::custom(e.to_string()))
                })
                .collect::<Mx<Vec<_>>>()?;
            Ok((value, grads))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::mlx::MlxDevice;
    use crate::model::Weights;

    /// The autograd gradient agrees with a central finite difference of the loss along a fixed
    /// direction through all parameters (directional derivative `⟨∇L, v⟩`).
    #[test]
    fn gradient_matches_finite_difference() {
        let cfg = ModelConfig::default();
        let backend = MlxBackend::new(&Weights::random(&cfg, 5), MlxDevice::Cpu).unwrap();
        let mut feats = SeqFeatures::zeros(&cfg, 1, 20);
        for (i, x) in feats.erb.iter_mut().enumerate() {
            *x = ((i * 37 % 101) as f32 / 50.0 - 1.0) * 0.8;
        }
        for (i, x) in feats.spec.iter_mut().enumerate() {
            *x = ((i * 53 % 97) as f32 / 97.0 - 0.5) * 0.6;
        }
        let x = backend.seq_arrays(&feats).unwrap();
        let (loss0, grads) = backend.gradients(&x).unwrap();
        assert!(loss0.is_finite() && loss0 > 0.0);
        assert_eq!(grads.len(), Params::count(&cfg));
        assert!(grads.iter().all(|g| g.iter().all(|v| v.is_finite())));
        // Every parameter tensor receives some gradient.
        let silent = grads.iter().filter(|g| g.iter().all(|v| *v == 0.0)).count();
        assert_eq!(
            silent, 0,
            "{silent} parameter tensors got an all-zero gradient"
        );

        // Direction: ±1 per entry, scaled per tensor by the tensor's RMS so every layer moves alike.
        let eps = 1e-3f32;
        let (loss_at, expected) = backend
            .with_mlx(|inner| {
                let mut dirs = Vec::new();
                let mut expected = 0.0f64;
                for (k, (p, g)) in inner.params.iter().zip(&grads).enumerate() {
                    let p = p.contiguous()?;
                    let pv = p
                        .try_as_slice::<f32>()
                        .map_err(|e| Exception::custom(e.to_string()))?;
                    let rms = (pv.iter().map(|v| v * v).sum::<f32>() / pv.len() as f32).sqrt();
                    let d: Vec<f32> = (0..pv.len())
                        .map(|i| if (i * 7 + k * 13) % 3 == 0 { -rms } else { rms })
                        .collect();
                    expected += d.iter().zip(g).map(|(a, b)| f64::from(a * b)).sum::<f64>();
                    dirs.push(d);
                }
                let at = |sign: f32| -> Mx<f32> {
                    let mut args = vec![x.erb.clone(), x.spec.clone()];
                    for (p, d) in inner.params.iter().zip(&dirs) {
                        let shifted = Array::from_slice(d, p.shape())
                            .multiply(Array::from_f32(sign * eps))?;
                        args.push(p.add(shifted)?);
                    }
                    let l = loss(&cfg, &args)?;
                    l[0].try_item_exact::<f32>()
                        .map_err(|e| Exception::custom(e.to_string()))
                };
                Ok(((at(1.0)?, at(-1.0)?), expected))
            })
            .unwrap();
        let numeric = f64::from(loss_at.0 - loss_at.1) / (2.0 * f64::from(eps));
        let rel = (numeric - expected).abs() / expected.abs().max(1e-6);
        println!("directional derivative: finite difference {numeric:e}, autograd {expected:e}, rel {rel:.2e}");
        assert!(
            rel < 0.03,
            "finite difference {numeric:e} vs autograd {expected:e} (rel {rel:.3})"
        );
    }
}
