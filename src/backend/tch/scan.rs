//! Parallel linear recurrence over time for the Mamba SSM: `h_t = a_t ⊙ h_{t−1} + b_t`, `h_{−1} = 0`.
//!
//! A per-frame loop costs a few kernel launches per frame (launch-bound on a GPU, forward and backward);
//! the Hillis–Steele doubling scan needs only `ceil(log2 T)` rounds of whole-tensor operations.
//! Each round composes every element with the one `s` frames earlier:
//! `(a, b)_t ← (a_t·a_{t−s}, a_t·b_{t−s} + b_t)`, so after the round with offset `s` element `t` holds the
//! composition of the affine maps of frames `t−2s+1 … t`, and after the last round `b_t = h_t`.
//! Long sequences are scanned in two levels (inside chunks of 8 frames, then across chunk carries), which
//! halves the number of passes over the large `[B, T, di, N]` tensors.
//!
//! Inference needs no autograd and may overwrite its inputs: [`linear_scan_in_place`] walks each chunk
//! frame by frame in place (one fused multiply-add per frame over all chunks at once), about a quarter of
//! the memory traffic of the doubling scan, which is what bounds a large batch on a GPU.
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

/// [`linear_scan`] for inference: the same result, computed in the memory of `a` and `b` (or of padded
/// copies), which must be fresh tensors that nothing else reads and that do not require gradients
/// (in-place updates would break autograd).
///
/// Time is cut into `nc` chunks of `L` frames. Inside every chunk at once, frame `j` becomes
/// `b_j += a_j · b_{j−1}` (the chunk-local state) and `a_j *= a_{j−1}` (the decay since the chunk
/// start); the states entering the chunks then follow from the chunk ends by a small scan, and are added
/// with their decays in one pass.
pub fn linear_scan_in_place(a: Tensor, b: Tensor) -> Tensor {
    let size = a.size();
    let t = size[1];
    let l = in_place_chunk_len(t);
    let nc = (t + l - 1) / l;
    let pad = nc * l - t;
    let (a, b) = if pad > 0 {
        let mut pads = vec![0i64; 2 * (size.len() - 2)];
        pads.extend([0, pad]);
        (
            a.pad(pads.as_slice(), "constant", 1.0),
            b.constant_pad_nd(pads.as_slice()),
        )
    } else {
        (a, b)
    };
    let mut chunked: Vec<i64> = vec![size[0], nc, l];
    chunked.extend_from_slice(&size[2..]);
    // Views when contiguous (the usual case); a copy otherwise, which the updates below then own.
    let a = a.reshape(chunked.as_slice());
    let b = b.reshape(chunked.as_slice());
    for j in 1..l {
        let _ = b
            .select(2, j)
            .addcmul_(&a.select(2, j), &b.select(2, j - 1));
        if nc > 1 {
            let _ = a.select(2, j).g_mul_(&a.select(2, j - 1));
        }
    }
    if nc > 1 {
        // State at the end of every chunk (a new tensor, unaffected by the update below).
        let ends = linear_scan(&a.select(2, l - 1), &b.select(2, l - 1));
        let _ = b.narrow(1, 1, nc - 1).addcmul_(
            &a.narrow(1, 1, nc - 1),
            &ends.narrow(1, 0, nc - 1).unsqueeze(2),
        );
    }
    let mut padded = size.clone();
    padded[1] = nc * l;
    let h = b.reshape(padded.as_slice());
    if pad > 0 {
        h.narrow(1, 0, t)
    } else {
        h
    }
}

/// Chunk length of [`linear_scan_in_place`] for `t` frames: all of them up to 16 (one chunk, no carries);
/// else the divisor of `t` in 4..=16 closest to 8, the longer on a tie (no padding); else 8, padding
/// the end.
fn in_place_chunk_len(t: i64) -> i64 {
    if t <= 16 {
        return t.max(1);
    }
    (4..=16)
        .filter(|l| t % l == 0)
        .min_by_key(|&l| ((l - 8).abs(), std::cmp::Reverse(l)))
        .unwrap_or(8)
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
        for t in [1i64, 2, 5, 8, 16, 17, 37, 40, 100, 300, 307] {
            let a = Tensor::rand([2, t, 3, 4], (Kind::Double, Device::Cpu));
            let b = Tensor::randn([2, t, 3, 4], (Kind::Double, Device::Cpu));
            let got = linear_scan(&a, &b);
            let in_place = linear_scan_in_place(a.copy(), b.copy());
            let mut h = Tensor::zeros([2, 3, 4], (Kind::Double, Device::Cpu));
            for i in 0..t {
                h = a.select(1, i) * &h + b.select(1, i);
                for (what, x) in [("doubling", &got), ("in place", &in_place)] {
                    let diff = (x.select(1, i) - &h).abs().max().double_value(&[]);
                    assert!(diff < 1e-12, "{what}: t={t} frame {i}: diff {diff}");
                }
            }
            assert_eq!(in_place.size(), a.size());
        }
    }

    #[test]
    fn in_place_chunks_avoid_padding_where_they_can() {
        assert_eq!(in_place_chunk_len(1), 1);
        assert_eq!(in_place_chunk_len(16), 16);
        assert_eq!(in_place_chunk_len(100), 10);
        assert_eq!(in_place_chunk_len(300), 10);
        assert_eq!(in_place_chunk_len(96), 8);
        assert_eq!(in_place_chunk_len(37), 8);
    }
}
