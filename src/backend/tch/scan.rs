//! Parallel linear recurrence over time for the Mamba SSM: `h_t = a_t ⊙ h_{t−1} + b_t`, `h_{−1} = 0`.
//!
//! A per-frame loop costs a few kernel launches per frame (launch-bound on a GPU, forward and backward);
//! the Hillis–Steele doubling scan needs only `ceil(log2 T)` rounds of whole-tensor operations.
//! Each round composes every element with the one `s` frames earlier:
//! `(a, b)_t ← (a_t·a_{t−s}, a_t·b_{t−s} + b_t)`, so after the round with offset `s` element `t` holds the
//! composition of the affine maps of frames `t−2s+1 … t`, and after the last round `b_t = h_t`.
//! Long sequences are scanned in two levels (inside chunks of 8 frames, then across chunk carries), which
//! halves the number of passes over the large `[B, T, di, N]` tensors.
use tch::Tensor;

/// Frames per chunk of [`linear_scan`]'s two-level form (short Hillis–Steele inside chunks, then a
/// scan over the chunk carries): about half the whole-tensor passes of one scan over all `T` frames.
const CHUNK: i64 = 8;

/// Solves `h_t = a_t ⊙ h_{t−1} + b_t` with zero initial state along dimension 1 of same-shaped `a`, `b`
/// (`[B, T, ...]`). Differentiable (plain tensor operations), `O(log T)` depth.
pub fn linear_scan(a: &Tensor, b: &Tensor) -> Tensor {
    let size = a.size();
    let t = size[1];
    if t <= 2 * CHUNK {
        return doubling_scan(a, b, 1, false).1;
    }
    let nc = (t + CHUNK - 1) / CHUNK;
    let pad = nc * CHUNK - t;
    // Padding after the end leaves every earlier frame unchanged (a = 1, b = 0 there).
    let mut pads = vec![0i64; 2 * (size.len() - 2)];
    pads.extend([0, pad]);
    let (a, b) = if pad > 0 {
        (
            a.pad(pads.as_slice(), "constant", 1.0),
            b.constant_pad_nd(pads.as_slice()),
        )
    } else {
        (a.shallow_clone(), b.shallow_clone())
    };
    let mut chunked: Vec<i64> = vec![size[0], nc, CHUNK];
    chunked.extend_from_slice(&size[2..]);
    let (acum, bcum) = doubling_scan(
        &a.reshape(chunked.as_slice()),
        &b.reshape(chunked.as_slice()),
        2,
        true,
    );
    // State at the end of every chunk, then the state entering each chunk (zero for the first).
    let ends = linear_scan(&acum.select(2, CHUNK - 1), &bcum.select(2, CHUNK - 1));
    let before = Tensor::cat(
        &[ends.narrow(1, 0, 1).zeros_like(), ends.narrow(1, 0, nc - 1)],
        1,
    );
    let h = bcum + acum * before.unsqueeze(2);
    h.reshape(
        size.iter()
            .enumerate()
            .map(|(i, &s)| if i == 1 { nc * CHUNK } else { s })
            .collect::<Vec<_>>()
            .as_slice(),
    )
    .narrow(1, 0, t)
}

/// Hillis–Steele scan along `dim`; returns the cumulative products of `a` (only complete when
/// `need_a`) and the states.
fn doubling_scan(a: &Tensor, b: &Tensor, dim: i64, need_a: bool) -> (Tensor, Tensor) {
    let t = a.size()[dim as usize];
    let mut a = a.shallow_clone();
    let mut b = b.shallow_clone();
    let mut s = 1;
    while s < t {
        let n = t - s;
        let a_hi = a.narrow(dim, s, n);
        let b_new = b.narrow(dim, s, n) + &a_hi * b.narrow(dim, 0, n);
        // The products of `a` are only needed by later rounds (or by the caller).
        if need_a || 2 * s < t {
            let a_new = &a_hi * a.narrow(dim, 0, n);
            a = Tensor::cat(&[a.narrow(dim, 0, s), a_new], dim);
        }
        b = Tensor::cat(&[b.narrow(dim, 0, s), b_new], dim);
        s *= 2;
    }
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn matches_sequential_recurrence() {
        tch::manual_seed(3);
        for t in [1i64, 2, 5, 8, 16, 17, 37, 40, 300] {
            let a = Tensor::rand([2, t, 3, 4], (Kind::Double, Device::Cpu));
            let b = Tensor::randn([2, t, 3, 4], (Kind::Double, Device::Cpu));
            let got = linear_scan(&a, &b);
            let mut h = Tensor::zeros([2, 3, 4], (Kind::Double, Device::Cpu));
            for i in 0..t {
                h = a.select(1, i) * &h + b.select(1, i);
                let diff = (got.select(1, i) - &h).abs().max().double_value(&[]);
                assert!(diff < 1e-12, "t={t} frame {i}: diff {diff}");
            }
        }
    }
}
