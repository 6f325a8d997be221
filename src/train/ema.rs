//! An exponential moving average of the parameters (Polyak averaging), kept beside the raw weights.
//!
//! Why: at the learning rates the corpus v3 days used, dev v3's SI-SDR improvement swung by up to 0.8 dB
//! between evaluations 2,000 steps apart (docs/quality.md, day 3), so the best of a run was partly the luck
//! of the step it was taken at. The average over the last ~1/(1 − decay) steps smooths that step-to-step
//! noise. Validation, the best-so-far export and the final export read the average; checkpoints keep the
//! raw weights and AdamW moments, so resuming continues the same optimisation, and the average starts
//! afresh from the resumed weights (it forgets them within a few times 1/(1 − decay) steps).
use std::collections::BTreeMap;

use tch::Tensor;

/// The running average of every parameter, in the trainer's parameter order.
pub struct Ema {
    decay: f64,
    /// The trainer's parameters (shallow clones: the same storage).
    params: Vec<Tensor>,
    /// The averages, same shapes and device.
    average: Vec<Tensor>,
    /// Updates applied since the average started.
    pub updates: u64,
}

impl Ema {
    /// Starts the average at the current parameters. `decay` is within (0, 1).
    pub fn new(vars: &BTreeMap<String, Tensor>, decay: f64) -> Self {
        let params: Vec<Tensor> = vars.values().map(|t| t.shallow_clone()).collect();
        let average = tch::no_grad(|| params.iter().map(|p| p.detach().copy()).collect());
        Self {
            decay,
            params,
            average,
            updates: 0,
        }
    }

    /// The decay per update.
    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// `average ← decay · average + (1 − decay) · parameter`, after each optimiser step.
    pub fn update(&mut self) {
        let weight = 1.0 - self.decay;
        tch::no_grad(|| {
            for (a, p) in self.average.iter_mut().zip(&self.params) {
                let _ = a.lerp_(p, weight);
            }
        });
        self.updates += 1;
    }

    /// Runs `f` with the average in the parameters' place, then puts the raw parameters back (bit for
    /// bit: both are plain copies).
    pub fn with_average<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.swap();
        let out = f();
        self.swap();
        out
    }

    /// Exchanges the parameters' values with the average's.
    fn swap(&mut self) {
        tch::no_grad(|| {
            for (a, p) in self.average.iter_mut().zip(self.params.iter_mut()) {
                let raw = p.detach().copy();
                p.copy_(a);
                a.copy_(&raw);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn vars(values: &[f32]) -> BTreeMap<String, Tensor> {
        let mut v = BTreeMap::new();
        let t = Tensor::from_slice(values).set_requires_grad(true);
        v.insert("w".to_string(), t);
        v
    }

    fn values(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.detach().to_device(Device::Cpu).to_kind(Kind::Float)).unwrap()
    }

    #[test]
    fn average_follows_the_closed_form() {
        let v = vars(&[1.0, -2.0]);
        let mut w = v["w"].shallow_clone();
        let mut ema = Ema::new(&v, 0.9);
        // The parameter jumps to (3, 0) and stays there: after n updates the average is
        // start + (target − start)(1 − 0.9^n).
        tch::no_grad(|| w.copy_(&Tensor::from_slice(&[3.0f32, 0.0])));
        for _ in 0..5 {
            ema.update();
        }
        let k = 1.0 - 0.9f32.powi(5);
        let got = ema.with_average(|| values(&w));
        let want = [1.0 + 2.0 * k, -2.0 + 2.0 * k];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
        assert_eq!(ema.updates, 5);
    }

    #[test]
    fn with_average_puts_the_raw_weights_back_exactly() {
        let v = vars(&[0.1, 0.2, 0.3]);
        let mut w = v["w"].shallow_clone();
        let mut ema = Ema::new(&v, 0.99);
        tch::no_grad(|| w.copy_(&Tensor::from_slice(&[1.1f32, -0.7, 0.3333])));
        ema.update();
        let raw = values(&w);
        let inside = ema.with_average(|| values(&w));
        assert_ne!(inside, raw, "the average was not swapped in");
        assert_eq!(
            values(&w),
            raw,
            "the raw weights did not come back bit for bit"
        );
        // And the average itself survives the round trip.
        assert_eq!(ema.with_average(|| values(&w)), inside);
        // Gradients still flow to the raw parameter after a swap.
        assert!(w.requires_grad());
    }
}
