//! Packed weight layouts and the two matrix kernels that carry almost all of the native backend's
//! arithmetic: matrix × vectors for the dense layers and register-tiled products for the frequency
//! convolutions.
//!
//! A step reads ~10 MB of dense weights, more than the L2 cache, so the dense kernel is bound by memory
//! bandwidth: [`PackedMat`] stores each group of four rows as one contiguous stream (which the hardware
//! prefetcher follows best), and with several vectors each four-row panel is used by all of them while
//! it is in L1. Stored as half floats ([`WeightPrecision::F16`]) the stream is half as long and the
//! products are still computed in `f32`; as 8-bit integers with one scale per row
//! ([`WeightPrecision::I8`]) it is a quarter, and the vectors are quantised to 8 bits too so that the
//! products are integer dot products (VNNI where the CPU has it), scaled back to `f32` per group
//! ([`int8`]). The convolution layout and im2col are in [`conv`]; with 8-bit weights the convolutions
//! are integer products on a quantised copy of their input instead ([`conv_i8`]).
mod conv;
mod conv_i8;
mod int8;

pub use conv::{conv_acc, im2col, im2col_len, im2col_row_len, PackedConv};
pub use conv_i8::{conv_i8, PackedConvI8};
use int8::{gemv_i8_acc, pack_quads, row_scales, I8_MAX_COLS};

use super::simd::{fmadd, Isa, Level, BASELINE_FMA};
use crate::{Error, Result};

/// Rows per block of [`PackedMat`]: the block's outputs live in eight AVX2 (four AVX-512) registers.
const BLOCK_ROWS: usize = 64;

/// How the dense weights are stored. The arithmetic is `f32` for `F32` and `F16`; `I8` multiplies
/// 8-bit weights by 8-bit activations in integers and scales the sums in `f32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightPrecision {
    /// The weights as loaded: results equal the reference implementation to float rounding.
    #[default]
    F32,
    /// IEEE half floats (11-bit significand, rounded to nearest): half the bytes to stream per step;
    /// every weight differs from its `f32` value by at most 2^-11 relative (weights under 2^-14 in
    /// magnitude keep an absolute error under 2^-25).
    F16,
    /// Signed 8-bit integers with one `f32` scale per row (symmetric: the row's largest |w| maps to
    /// 127): a quarter of the bytes to stream per step; every weight differs from its `f32` value by at
    /// most half a step, max|row| / 254. Each input vector is quantised to 8 bits too, per group of 64
    /// values with its own scale (at most max|group| / 254 off per value), so that the products are
    /// integer dot products (VNNI where the CPU has it); sums are exact in `i32`, the scales are
    /// applied in `f32`. The frequency convolutions are 8-bit too (`PackedConvI8`).
    I8,
}

/// The packed weights in their storage type.
enum Store {
    F32(Vec<f32>),
    /// IEEE binary16 bit patterns.
    F16(Vec<u16>),
    /// Quantised weights in the layout of [`pack_quads`] and the scale of each row (`[rows/64 · 64]`,
    /// padded with ones).
    I8 {
        q: Vec<u8>,
        scales: Vec<f32>,
    },
}

/// A row-major `[rows][cols]` matrix packed in blocks of 64 rows stored column by column,
/// `[rows/64][cols][64]` (rows padded with zeros), so `y += W·x` is a sequence of `y_block += column ·
/// x[c]`: one contiguous weight stream, outputs accumulated in registers, no horizontal sums.
pub struct PackedMat {
    rows: usize,
    cols: usize,
    data: Store,
}

impl PackedMat {
    /// Packs a row-major `[rows][cols]` matrix, stored in `precision`. Fails for half floats if a weight
    /// is beyond their range (±65504), which no trained layer comes near.
    pub fn pack(w: &[f32], rows: usize, cols: usize, precision: WeightPrecision) -> Result<Self> {
        debug_assert_eq!(w.len(), rows * cols);
        let data = match precision {
            WeightPrecision::F32 => Store::F32(pack_blocks(w, rows, cols, |_, v| Ok(v))?),
            WeightPrecision::F16 => Store::F16(pack_blocks(w, rows, cols, |_, v| {
                let h = half::f16::from_f32(v);
                if h.is_finite() {
                    Ok(h.to_bits())
                } else {
                    Err(Error::Config(format!(
                        "weight {v} does not fit a half float; use f32 weights"
                    )))
                }
            })?),
            WeightPrecision::I8 => {
                if cols > I8_MAX_COLS {
                    return Err(Error::Config(format!(
                        "a layer with {cols} inputs is too wide for 8-bit weights (at most \
                         {I8_MAX_COLS}); use f16 or f32 weights"
                    )));
                }
                let scales = row_scales(w, rows, cols)?;
                let q = pack_quads(w, rows, cols, &scales);
                Store::I8 { q, scales }
            }
        };
        Ok(Self { rows, cols, data })
    }

    /// Bytes of packed weights (what one step streams through this matrix).
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        match &self.data {
            Store::F32(d) => d.len() * 4,
            Store::F16(d) => d.len() * 2,
            Store::I8 { q, scales } => q.len() + scales.len() * 4,
        }
    }
}

/// The `[rows/64][cols][64]` layout of [`PackedMat`] (zero-padded rows), each weight stored as
/// `convert` makes it.
fn pack_blocks<T: Copy + Default>(
    w: &[f32],
    rows: usize,
    cols: usize,
    mut convert: impl FnMut(usize, f32) -> Result<T>,
) -> Result<Vec<T>> {
    let mut data = vec![T::default(); rows.div_ceil(BLOCK_ROWS) * cols * BLOCK_ROWS];
    for r in 0..rows {
        for c in 0..cols {
            data[((r / BLOCK_ROWS) * cols + c) * BLOCK_ROWS + r % BLOCK_ROWS] =
                convert(r, w[r * cols + c])?;
        }
    }
    Ok(data)
}

/// `ys[j] += M · xs[j]` for every vector `j` (`xs`: `[n][cols]`, `ys`: `[n][rows]`). Each 64-row block
/// is applied to all vectors before the next is read, so the weights stream from memory once per call
/// (later vectors find the block in L2); per vector the arithmetic does not depend on `n`.
pub fn gemv_acc(isa: Isa, m: &PackedMat, xs: &[f32], ys: &mut [f32]) {
    debug_assert_eq!(xs.len() / m.cols, ys.len() / m.rows);
    match &m.data {
        Store::F32(data) => gemv_f32_acc(isa, m.rows, m.cols, data, xs, ys),
        Store::F16(data) => gemv_f16_acc(isa, m.rows, m.cols, data, xs, ys),
        Store::I8 { q, scales } => gemv_i8_acc(isa, m.rows, m.cols, q, scales, xs, ys),
    }
}

/// `y += block · x` for one 64-row block (`y` holds the block's real rows).
#[inline(always)]
fn block_gemv<const FMA: bool, const WIDE: bool>(block: &[f32], x: &[f32], y: &mut [f32]) {
    let (cols, _) = block.as_chunks::<BLOCK_ROWS>();
    let mut acc = [0f32; BLOCK_ROWS];
    if WIDE {
        // Four 512-bit accumulators are too few to hide the FMA latency: a second set takes the odd
        // columns.
        let mut acc_odd = [0f32; BLOCK_ROWS];
        let (wpairs, wlast) = cols.as_chunks::<2>();
        let (xpairs, xlast) = x.as_chunks::<2>();
        for (w, xv) in wpairs.iter().zip(xpairs) {
            for l in 0..BLOCK_ROWS {
                acc[l] = fmadd::<FMA>(w[0][l], xv[0], acc[l]);
                acc_odd[l] = fmadd::<FMA>(w[1][l], xv[1], acc_odd[l]);
            }
        }
        for (w, &xv) in wlast.iter().zip(xlast) {
            for l in 0..BLOCK_ROWS {
                acc[l] = fmadd::<FMA>(w[l], xv, acc[l]);
            }
        }
        for (a, b) in acc.iter_mut().zip(acc_odd) {
            *a += b;
        }
    } else {
        for (w, &xv) in cols.iter().zip(x) {
            for l in 0..BLOCK_ROWS {
                acc[l] = fmadd::<FMA>(w[l], xv, acc[l]);
            }
        }
    }
    for (yv, a) in y.iter_mut().zip(acc) {
        *yv += a;
    }
}

kernel! {
    /// [`gemv_acc`] over `f32` weights.
    pub fn gemv_f32_acc<FMA, WIDE>(
        rows: usize,
        cols: usize,
        data: &[f32],
        xs: &[f32],
        ys: &mut [f32],
    ) {
        gemv_blocks(rows, cols, data, xs, ys, |_, b, x, y| block_gemv::<FMA, WIDE>(b, x, y));
    }
}

/// [`gemv_acc`] over half-float weights: the AVX levels widen each column with F16C (checked by
/// [`Isa::detect`]), the baseline converts in software.
fn gemv_f16_acc(isa: Isa, rows: usize, cols: usize, data: &[u16], xs: &[f32], ys: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn avx2(rows: usize, cols: usize, data: &[u16], xs: &[f32], ys: &mut [f32]) {
        gemv_blocks(rows, cols, data, xs, ys, |_, b, x, y| {
            // SAFETY: this closure only runs inside a function compiled with AVX2, FMA and F16C.
            unsafe { block_gemv_f16c::<false>(b, x, y) }
        });
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    fn avx512(rows: usize, cols: usize, data: &[u16], xs: &[f32], ys: &mut [f32]) {
        gemv_blocks(rows, cols, data, xs, ys, |_, b, x, y| {
            // SAFETY: as above, with AVX-512F.
            unsafe { block_gemv_f16c::<true>(b, x, y) }
        });
    }
    match isa.0 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Level::Avx2Fma` is only built by `Isa::detect` after the CPU reported AVX2, FMA and
        // F16C.
        Level::Avx2Fma => unsafe { avx2(rows, cols, data, xs, ys) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Level::Avx512` is only built by `Isa::detect` after the CPU reported AVX-512F, AVX2,
        // FMA and F16C.
        Level::Avx512 => unsafe { avx512(rows, cols, data, xs, ys) },
        Level::Baseline => gemv_blocks(rows, cols, data, xs, ys, |_, b, x, y| {
            block_gemv_f16_soft(b, x, y)
        }),
    }
}

/// The block loop of [`gemv_acc`], generic over the storage and the per-block kernel (inlined into
/// each ISA level, so the kernel is compiled with that level's features). The kernel gets the block's
/// first row, the block and one vector.
#[inline(always)]
fn gemv_blocks<T>(
    rows: usize,
    cols: usize,
    data: &[T],
    xs: &[f32],
    ys: &mut [f32],
    block_gemv: impl Fn(usize, &[T], &[f32], &mut [f32]),
) {
    for (bi, block) in data.chunks_exact(BLOCK_ROWS * cols).enumerate() {
        let r0 = bi * BLOCK_ROWS;
        let r1 = rows.min(r0 + BLOCK_ROWS);
        for (x, y) in xs.chunks_exact(cols).zip(ys.chunks_exact_mut(rows)) {
            block_gemv(r0, block, x, &mut y[r0..r1]);
        }
    }
}

/// `y += block · x` for one 64-row block of half floats, widened in software (portable baseline).
fn block_gemv_f16_soft(block: &[u16], x: &[f32], y: &mut [f32]) {
    let (cols, _) = block.as_chunks::<BLOCK_ROWS>();
    let mut acc = [0f32; BLOCK_ROWS];
    for (w, &xv) in cols.iter().zip(x) {
        for l in 0..BLOCK_ROWS {
            acc[l] = fmadd::<BASELINE_FMA>(half::f16::from_bits(w[l]).to_f32(), xv, acc[l]);
        }
    }
    for (yv, a) in y.iter_mut().zip(acc) {
        *yv += a;
    }
}

/// `y += block · x` for one 64-row block of half floats, widened with F16C: 64 rows are eight AVX2
/// registers, or four AVX-512 registers (`WIDE`) with a second set for the odd columns so that enough
/// FMAs are in flight.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and AVX-512F if `WIDE`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn block_gemv_f16c<const WIDE: bool>(block: &[u16], x: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::*;
    let (cols, _) = block.as_chunks::<BLOCK_ROWS>();
    let mut out = [0f32; BLOCK_ROWS];
    // SAFETY (all intrinsics below): the caller guarantees the features; every load reads 16 or 8
    // halves inside one 64-half column, every store writes inside `out`.
    unsafe {
        if WIDE {
            let mut even = [_mm512_setzero_ps(); 4];
            let mut odd = [_mm512_setzero_ps(); 4];
            let (pairs, last) = cols.as_chunks::<2>();
            let (xpairs, xlast) = x.as_chunks::<2>();
            for (w, xv) in pairs.iter().zip(xpairs) {
                let (x0, x1) = (_mm512_set1_ps(xv[0]), _mm512_set1_ps(xv[1]));
                for k in 0..4 {
                    let h0 = _mm256_loadu_si256(w[0].as_ptr().add(16 * k).cast());
                    let h1 = _mm256_loadu_si256(w[1].as_ptr().add(16 * k).cast());
                    even[k] = _mm512_fmadd_ps(_mm512_cvtph_ps(h0), x0, even[k]);
                    odd[k] = _mm512_fmadd_ps(_mm512_cvtph_ps(h1), x1, odd[k]);
                }
            }
            for (w, &xv) in last.iter().zip(xlast) {
                let x0 = _mm512_set1_ps(xv);
                for (k, acc) in even.iter_mut().enumerate() {
                    let h0 = _mm256_loadu_si256(w.as_ptr().add(16 * k).cast());
                    *acc = _mm512_fmadd_ps(_mm512_cvtph_ps(h0), x0, *acc);
                }
            }
            for (k, (e, o)) in even.iter().zip(odd).enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(16 * k), _mm512_add_ps(*e, o));
            }
        } else {
            let mut acc = [_mm256_setzero_ps(); 8];
            for (w, &xv) in cols.iter().zip(x) {
                let x0 = _mm256_set1_ps(xv);
                for (k, a) in acc.iter_mut().enumerate() {
                    let h = _mm_loadu_si128(w.as_ptr().add(8 * k).cast());
                    *a = _mm256_fmadd_ps(_mm256_cvtph_ps(h), x0, *a);
                }
            }
            for (k, a) in acc.iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add(8 * k), *a);
            }
        }
    }
    for (yv, a) in y.iter_mut().zip(out) {
        *yv += a;
    }
}

#[cfg(test)]
mod tests {
    use super::int8::*;
    use super::*;

    pub(super) fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    /// `w` as the half floats [`WeightPrecision::F16`] stores.
    fn rounded_to_f16(w: &[f32]) -> Vec<f32> {
        w.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect()
    }

    /// `w` (`[rows][cols]`) as the 8-bit integers times row scales [`WeightPrecision::I8`] stores.
    fn rounded_to_i8(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let scales = row_scales(w, rows, cols).unwrap();
        w.iter()
            .enumerate()
            .map(|(i, &v)| {
                let s = scales[i / cols];
                quantize_i8(v, s) as f32 * s
            })
            .collect()
    }

    #[test]
    fn packed_gemv_matches_naive_for_odd_shapes_and_both_precisions() {
        let precisions = [
            WeightPrecision::F32,
            WeightPrecision::F16,
            WeightPrecision::I8,
        ];
        for (isa, precision) in Isa::all_available()
            .into_iter()
            .flat_map(|isa| precisions.map(|p| (isa, p)))
        {
            for (rows, cols, n) in [
                (7, 37, 1),
                (48, 512, 3),
                (1, 256, 2),
                (5, 16, 4),
                (10, 5, 1),
                (130, 33, 2),
            ] {
                let w = pseudo(rows * cols, 1);
                let m = PackedMat::pack(&w, rows, cols, precision).unwrap();
                // The product the kernel must compute: with the weights as stored.
                let w = match precision {
                    WeightPrecision::F32 => w,
                    WeightPrecision::F16 => rounded_to_f16(&w),
                    WeightPrecision::I8 => rounded_to_i8(&w, rows, cols),
                };
                let xs = pseudo(n * cols, 2);
                let mut ys = vec![0.5f32; n * rows];
                gemv_acc(isa, &m, &xs, &mut ys);
                // With 8-bit weights the kernel multiplies by the vectors as quantised too.
                let xs = match precision {
                    WeightPrecision::I8 => xs.chunks(cols).flat_map(quantized_x).collect(),
                    _ => xs,
                };
                for j in 0..n {
                    for r in 0..rows {
                        let terms =
                            (0..cols).map(|c| w[r * cols + c] as f64 * xs[j * cols + c] as f64);
                        let want: f64 = terms.clone().sum();
                        // f32 accumulation: a few ulps of the largest partial sums.
                        let tol = 1e-6 * terms.map(f64::abs).sum::<f64>() + 1e-6;
                        let got = ys[j * rows + r] as f64 - 0.5;
                        assert!(
                            (got - want).abs() < tol,
                            "{isa:?} {precision:?} {rows}x{cols} row {r}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// `x` as [`QuantVec`] quantises it: per group of 64, `q · max|group| / 127`.
    fn quantized_x(x: &[f32]) -> Vec<f32> {
        let mut qv = QuantVec::ZERO;
        qv.set(x);
        x.iter()
            .enumerate()
            .map(|(c, _)| qv.q[c] as f32 * qv.scale[c / I8_GROUP_COLS])
            .collect()
    }

    #[test]
    fn int8_kernels_of_every_level_give_the_same_sums() {
        // VNNI and the portable integer code compute the same i32 sums and apply the scales in the
        // same order, so on one level with and without VNNI the results are identical (six vectors:
        // AVX512-VNNI takes four at once and the other two one by one).
        let (rows, cols, n) = (200, 700, 6);
        let m = PackedMat::pack(&pseudo(rows * cols, 10), rows, cols, WeightPrecision::I8).unwrap();
        let xs = pseudo(n * cols, 11);
        for isa in [Isa::detect(), Isa::avx2_or_baseline()] {
            let mut with = vec![0.25; n * rows];
            let mut without = vec![0.25; n * rows];
            gemv_acc(isa, &m, &xs, &mut with);
            gemv_acc(isa.without_vnni(), &m, &xs, &mut without);
            assert_eq!(with, without, "{isa:?}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_quantisation_gives_the_scalar_bytes_scales_and_offsets() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        // Groups with NaN, ±Inf, −0, subnormals, all zeros, a lone large value, a value on a
        // rounding tie, and a partial last group (200 columns = 3 groups + 8).
        let mut x = pseudo(200, 14);
        x[3] = f32::NAN;
        x[70] = f32::INFINITY;
        x[71] = f32::NEG_INFINITY;
        x[128..192].fill(0.0);
        x[130] = -0.0;
        x[131] = f32::MIN_POSITIVE / 8.0;
        x[20] = 1e30;
        x[21] = -1e30 / 127.0 * 2.5; // −2.5 steps: a tie, to even
        x[199] = f32::NAN;
        for len in [200, 64, 1, 33] {
            let (mut scalar, mut simd) = (QuantVec::ZERO, QuantVec::ZERO);
            // Stale bytes from a longer vector must not survive in the padding either.
            simd.q.fill(99);
            scalar.q.fill(99);
            scalar.set(&x[..len]);
            // SAFETY: AVX-512F was detected above.
            unsafe { simd.set_avx512(&x[..len]) };
            let padded = i8_padded_cols(len);
            assert_eq!(simd.q[..padded], scalar.q[..padded], "{len} columns");
            let groups = padded / I8_GROUP_COLS;
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&simd.scale[..groups]),
                bits(&scalar.scale[..groups]),
                "{len} columns"
            );
            assert_eq!(simd.offset[..groups], scalar.offset[..groups], "{len}");
        }
    }

    #[test]
    fn int8_activation_groups_are_quantised_within_half_a_step() {
        let mut x = pseudo(150, 12);
        x[70] = 40.0; // one outlier coarsens its own group only
        x[140..].fill(0.0);
        let q = quantized_x(&x);
        for (g, (xg, qg)) in x.chunks(64).zip(q.chunks(64)).enumerate() {
            let max = xg.iter().fold(0f32, |a, v| a.max(v.abs()));
            for (&v, &w) in xg.iter().zip(qg) {
                assert!(
                    (v - w).abs() <= max / 254.0 * 1.0001,
                    "group {g}: {v} -> {w}"
                );
            }
        }
        assert_eq!(q[140..], [0.0; 10]);
    }

    #[test]
    fn batched_gemv_equals_single_vector_gemv_exactly() {
        let (rows, cols, n) = (1024, 256, 5);
        for precision in [
            WeightPrecision::F32,
            WeightPrecision::F16,
            WeightPrecision::I8,
        ] {
            let m = PackedMat::pack(&pseudo(rows * cols, 3), rows, cols, precision).unwrap();
            let xs = pseudo(n * cols, 4);
            let mut batched = vec![0.0; n * rows];
            gemv_acc(Isa::detect(), &m, &xs, &mut batched);
            for j in 0..n {
                let mut single = vec![0.0; rows];
                gemv_acc(
                    Isa::detect(),
                    &m,
                    &xs[j * cols..(j + 1) * cols],
                    &mut single,
                );
                assert_eq!(single, batched[j * rows..(j + 1) * rows], "{precision:?}");
            }
        }
    }

    #[test]
    fn half_float_storage_halves_the_bytes_and_rejects_weights_beyond_its_range() {
        let w = pseudo(64 * 10, 8);
        let f32_bytes = PackedMat::pack(&w, 64, 10, WeightPrecision::F32)
            .unwrap()
            .bytes();
        let f16_bytes = PackedMat::pack(&w, 64, 10, WeightPrecision::F16)
            .unwrap()
            .bytes();
        assert_eq!((f32_bytes, f16_bytes), (64 * 10 * 4, 64 * 10 * 2));
        let mut big = w.clone();
        big[17] = 70_000.0;
        assert!(PackedMat::pack(&big, 64, 10, WeightPrecision::F32).is_ok());
        let err = PackedMat::pack(&big, 64, 10, WeightPrecision::F16)
            .err()
            .unwrap();
        assert!(err.to_string().contains("half float"), "{err}");
    }

    #[test]
    fn int8_storage_quarters_the_bytes_and_rounds_within_half_a_step_of_each_row() {
        let (rows, cols) = (70, 33);
        let mut w = pseudo(rows * cols, 9);
        // Rows of very different magnitude, one all zero: each row gets its own scale.
        for (r, row) in w.chunks_exact_mut(cols).enumerate() {
            let g = if r == 5 {
                0.0
            } else {
                10f32.powi(r as i32 % 7 - 4)
            };
            row.iter_mut().for_each(|v| *v *= g);
        }
        let m = PackedMat::pack(&w, rows, cols, WeightPrecision::I8).unwrap();
        // 2 blocks of 64 rows, columns padded to a group of 64: one byte per weight plus one f32 scale
        // per row.
        assert_eq!(m.bytes(), 2 * 64 * 64 + 2 * 64 * 4);
        let stored = rounded_to_i8(&w, rows, cols);
        for (r, (row, srow)) in w
            .chunks_exact(cols)
            .zip(stored.chunks_exact(cols))
            .enumerate()
        {
            let max = row.iter().fold(0f32, |a, v| a.max(v.abs()));
            for (&v, &q) in row.iter().zip(srow) {
                assert!((v - q).abs() <= max / 254.0 * 1.0001, "row {r}: {v} -> {q}");
            }
            // The row's largest weight is stored exactly (to float rounding): it maps to ±127.
            let top = row.iter().zip(srow).find(|(v, _)| v.abs() == max).unwrap();
            assert!((top.0 - top.1).abs() <= max * 1e-6, "row {r}");
        }
        let mut bad = w.clone();
        bad[3] = f32::NAN;
        assert!(PackedMat::pack(&bad, rows, cols, WeightPrecision::I8).is_err());
    }
}
