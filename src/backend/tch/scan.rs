//! Parallel linear recurrence over time for the Mamba SSM: `h_t = a_t ⊙ h_{t−1} + b_t`, `h_{−1} = 0`.
//!
//! A per-frame loop costs a few kernel launches per frame (launch-bound on a GPU, forward and backward);
//! the Hillis–Steele doubling scan needs only `ceil(log2 T)` rounds of whole-tensor operations.
//! Each round composes every element with the one `s` frames earlier:
//! `(a, b)_t ← (a_t·a_{t−s}, a_t·b_{t−s} + b_t)`, so after the round with offset `s` element `t` holds the
//! composition of the affine maps of frames `t−2s+1 … t`, and after the last round `b_t = h_t`.
use tch::Tensor;

/// Solves `h_t = a_t ⊙ h_{t−1} + b_t` with zero initial state along dimension `dim` of same-shaped `a`, `b`.
/// Differentiable (plain tensor operations), `O(T log T)` work, `O(log T)` depth.
pub fn linear_scan(a: &Tensor, b: &Tensor, dim: i64) -> Tensor {
    let t = a.size()[dim as usize];
    let mut a = a.shallow_clone();
    let mut b = b.shallow_clone();
    let mut s = 1;
    while s < t {
        let n = t - s;
        let a_hi = a.narrow(dim, s, n);
        let b_new = b.narrow(dim, s, n) + &a_hi * b.narrow(dim, 0, n);
        // The products of `a` are only needed by later rounds.
        if 2 * s < t {
            let a_new = &a_hi * a.narrow(dim, 0, n);
            a = Tensor::cat(&[a.narrow(dim, 0, s), a_new], dim);
        }
        b = Tensor::cat(&[b.narrow(dim, 0, s), b_new], dim);
        s *= 2;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn matches_sequential_recurrence() {
        tch::manual_seed(3);
        for t in [1i64, 2, 5, 8, 37] {
            let a = Tensor::rand([2, t, 3, 4], (Kind::Double, Device::Cpu));
            let b = Tensor::randn([2, t, 3, 4], (Kind::Double, Device::Cpu));
            let got = linear_scan(&a, &b, 1);
            let mut h = Tensor::zeros([2, 3, 4], (Kind::Double, Device::Cpu));
            for i in 0..t {
                h = a.select(1, i) * &h + b.select(1, i);
                let diff = (got.select(1, i) - &h).abs().max().double_value(&[]);
                assert!(diff < 1e-12, "t={t} frame {i}: diff {diff}");
            }
        }
    }
}
