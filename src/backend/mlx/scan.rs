//! Parallel linear recurrence over time for the Mamba SSM in MLX: `h_t = a_t ⊙ h_{t−1} + b_t`, `h_{−1} = 0`.
//!
//! The same two-level Hillis–Steele scan as the tch backend (`backend::tch::scan`): a frame loop would
//! add a few graph nodes per frame (kernel launches on a GPU, forward and backward), the doubling scan
//! needs `ceil(log2 T)` rounds of whole-array operations. A round with offset `s` composes every
//! element with the one `s` frames earlier, `(a, b)_t ← (a_t·a_{t−s}, a_t·b_{t−s} + b_t)`; after the
//! last round `b_t = h_t`. Long sequences are scanned inside chunks of [`CHUNK`] frames and then across
//! the chunk carries, about half the passes over the large `[B, T, di, N]` arrays.
use mlx_rs::error::Exception;
use mlx_rs::ops::{concatenate, ones, zeros};
use mlx_rs::Array;

use super::net::{narrow, Mx};

/// Frames per chunk of the two-level form.
const CHUNK: i32 = 8;

/// Solves the recurrence along axis 1 of same-shaped `a`, `b` (`[B, T, ...]`). Differentiable (plain
/// array operations), `O(log T)` depth.
pub fn linear_scan(a: &Array, b: &Array) -> Mx<Array> {
    let shape = a.shape().to_vec();
    if shape.len() < 2 {
        return Err(Exception::custom("linear_scan needs [B, T, ...] arrays"));
    }
    let t = shape[1];
    if t <= 2 * CHUNK {
        return Ok(doubling_scan(a, b, 1, false)?.1);
    }
    let nc = (t + CHUNK - 1) / CHUNK;
    let pad = nc * CHUNK - t;
    // Padding after the end leaves every earlier frame unchanged (a = 1, b = 0 there).
    let (a, b) = if pad > 0 {
        let mut pad_shape = shape.clone();
        pad_shape[1] = pad;
        (
            concatenate(&[a.clone(), ones::<f32>(&pad_shape)?], 1)?,
            concatenate(&[b.clone(), zeros::<f32>(&pad_shape)?], 1)?,
        )
    } else {
        (a.clone(), b.clone())
    };
    let mut chunked = vec![shape[0], nc, CHUNK];
    chunked.extend_from_slice(&shape[2..]);
    let (acum, bcum) = doubling_scan(&a.reshape(&chunked)?, &b.reshape(&chunked)?, 2, true)?;
    // State at the end of every chunk, then the state entering each chunk (zero for the first).
    let last = |x: &Array| -> Mx<Array> {
        let mut s = chunked.clone();
        s.remove(2);
        narrow(x, 2, CHUNK - 1, 1)?.reshape(&s)
    };
    let ends = linear_scan(&last(&acum)?, &last(&bcum)?)?;
    let mut first_shape = ends.shape().to_vec();
    first_shape[1] = 1;
    let before = concatenate(
        &[zeros::<f32>(&first_shape)?, narrow(&ends, 1, 0, nc - 1)?],
        1,
    )?;
    let h = bcum.add(acum.multiply(before.expand_dims(2)?)?)?;
    let mut full = shape.clone();
    full[1] = nc * CHUNK;
    narrow(&h.reshape(&full)?, 1, 0, t)
}

/// Hillis–Steele scan along `axis`; returns the cumulative products of `a` (complete only when
/// `need_a`) and the states.
fn doubling_scan(a: &Array, b: &Array, axis: i32, need_a: bool) -> Mx<(Array, Array)> {
    let t = a.shape()[axis as usize];
    let mut a = a.clone();
    let mut b = b.clone();
    let mut s = 1;
    while s < t {
        let n = t - s;
        let a_hi = narrow(&a, axis, s, n)?;
        let b_new = narrow(&b, axis, s, n)?.add(a_hi.multiply(narrow(&b, axis, 0, n)?)?)?;
        // The products of `a` are only needed by later rounds (or by the caller).
        if need_a || 2 * s < t {
            let a_new = a_hi.multiply(narrow(&a, axis, 0, n)?)?;
            a = concatenate(&[narrow(&a, axis, 0, s)?, a_new], axis)?;
        }
        b = concatenate(&[narrow(&b, axis, 0, s)?, b_new], axis)?;
        s *= 2;
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [lo, hi).
    fn values(n: usize, seed: u32, lo: f32, hi: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                lo + (hi - lo) * (s as f32 / u32::MAX as f32)
            })
            .collect()
    }

    #[test]
    fn matches_sequential_recurrence() {
        let stream = mlx_rs::Stream::cpu();
        mlx_rs::with_stream(&stream, || {
            for t in [1usize, 2, 5, 8, 16, 17, 37, 40, 130] {
                let (b, c) = (2, 3);
                let av = values(b * t * c, t as u32, 0.0, 1.0);
                let bv = values(b * t * c, 7 + t as u32, -1.0, 1.0);
                let shape = [b as i32, t as i32, c as i32];
                let a = Array::from_slice(&av, &shape);
                let bb = Array::from_slice(&bv, &shape);
                let h = linear_scan(&a, &bb).unwrap();
                let got = h.contiguous().unwrap();
                let got = got.try_as_slice::<f32>().unwrap();
                for bi in 0..b {
                    let mut state = vec![0.0f32; c];
                    for ti in 0..t {
                        for (ci, h) in state.iter_mut().enumerate() {
                            let i = (bi * t + ti) * c + ci;
                            *h = av[i] * *h + bv[i];
                            let diff = (got[i] - *h).abs();
                            assert!(diff < 1e-5, "t={t} b={bi} frame {ti}: diff {diff}");
                        }
                    }
                }
            }
        });
    }
}
