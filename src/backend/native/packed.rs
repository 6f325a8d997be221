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
//! products are integer dot products (VNNI where the CPU has it), scaled back to `f32` per group.
use super::simd::{fmadd, Isa, Level, BASELINE_FMA};
use crate::{Error, Result};

/// Rows per block of [`PackedMat`]: the block's outputs live in eight AVX2 (four AVX-512) registers.
const BLOCK_ROWS: usize = 64;
/// Columns per activation group of [`WeightPrecision::I8`]: each group of a vector is quantised with
/// its own scale, so a large activation only coarsens the 63 values beside it.
const I8_GROUP_COLS: usize = 64;
/// How far ahead of the column quads it multiplies the AVX512-VNNI kernel asks for the weights (the
/// stream then comes from L3 faster than the hardware prefetcher alone brings it: 0.064 → 0.058 ms
/// per step here, side by side; it crosses into the next block, which is where it continues).
const PREFETCH_BYTES: usize = 4096;
/// Vectors the int8 kernel quantises at once (their 8-bit copies live on the stack).
const I8_VECTORS: usize = 8;
/// Widest matrix [`WeightPrecision::I8`] takes (the stack space of a quantised vector).
const I8_MAX_COLS: usize = 2048;
/// Output channels per register tile of [`PackedConv`].
pub const CONV_OB: usize = 4;
/// Frequency bins per register tile of [`PackedConv`] (and per block of the im2col panels).
pub const CONV_FB: usize = 16;

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
    /// applied in `f32`.
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

/// Scale of each row for [`WeightPrecision::I8`]: max |w| / 127 (1 for an all-zero row), padded with
/// ones to whole blocks. Fails on a non-finite weight.
fn row_scales(w: &[f32], rows: usize, cols: usize) -> Result<Vec<f32>> {
    let mut scales = vec![1.0; rows.div_ceil(BLOCK_ROWS) * BLOCK_ROWS];
    for (s, row) in scales.iter_mut().zip(w.chunks_exact(cols)) {
        if let Some(v) = row.iter().find(|v| !v.is_finite()) {
            return Err(Error::Config(format!(
                "weight {v} cannot be quantised to 8 bits"
            )));
        }
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        if max > 0.0 {
            *s = max / 127.0;
        }
    }
    Ok(scales)
}

/// `v / scale` rounded to the nearest integer (|v| ≤ 127 · scale by construction).
fn quantize_i8(v: f32, scale: f32) -> i8 {
    (v / scale).round().clamp(-127.0, 127.0) as i8
}

/// Columns of [`WeightPrecision::I8`] storage: `cols` rounded up to whole activation groups.
fn i8_padded_cols(cols: usize) -> usize {
    cols.div_ceil(I8_GROUP_COLS) * I8_GROUP_COLS
}

/// The `[rows/64][cols/4][64][4]` layout of [`WeightPrecision::I8`] (rows padded to 64 and columns to
/// whole groups, with zero weights): each 32-bit lane holds four consecutive weights of one row, what
/// a VNNI dot-product instruction multiplies by four activations. Stored as `q + 128` (unsigned):
/// those instructions take one unsigned operand; the kernel subtracts `128 · Σ x` again.
fn pack_quads(w: &[f32], rows: usize, cols: usize, scales: &[f32]) -> Vec<u8> {
    let quads = i8_padded_cols(cols) / 4;
    let mut data = vec![128u8; rows.div_ceil(BLOCK_ROWS) * quads * BLOCK_ROWS * 4];
    for r in 0..rows {
        for c in 0..cols {
            let q = quantize_i8(w[r * cols + c], scales[r]);
            data[(((r / BLOCK_ROWS) * quads + c / 4) * BLOCK_ROWS + r % BLOCK_ROWS) * 4 + c % 4] =
                (q as i16 + 128) as u8;
        }
    }
    data
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

/// One input vector quantised for the int8 kernel: 8-bit values (zero past the real columns), and per
/// group of [`I8_GROUP_COLS`] the scale and the `128 · Σ q` the unsigned weights add.
struct QuantVec {
    q: [i8; I8_MAX_COLS],
    scale: [f32; I8_MAX_COLS / I8_GROUP_COLS],
    offset: [i32; I8_MAX_COLS / I8_GROUP_COLS],
}

impl QuantVec {
    const ZERO: Self = Self {
        q: [0; I8_MAX_COLS],
        scale: [0.0; I8_MAX_COLS / I8_GROUP_COLS],
        offset: [0; I8_MAX_COLS / I8_GROUP_COLS],
    };

    /// Quantises `x`, each group symmetric with its largest |x| mapped to 127 (a group of zeros, or
    /// one holding a non-finite value, gets scale 0 and contributes nothing).
    #[inline(always)]
    fn set(&mut self, x: &[f32]) {
        let cols_p = i8_padded_cols(x.len());
        self.q[x.len()..cols_p].fill(0);
        for (g, xg) in x.chunks(I8_GROUP_COLS).enumerate() {
            let max = xg.iter().fold(0f32, |m, v| m.max(v.abs()));
            let (scale, inv) = if max > 0.0 && max.is_finite() {
                (max / 127.0, 127.0 / max)
            } else {
                (0.0, 0.0)
            };
            let mut sum = 0i32;
            for (q, &v) in self.q[g * I8_GROUP_COLS..].iter_mut().zip(xg) {
                // `as` saturates (and maps NaN to 0): |v · inv| ≤ 127 up to rounding.
                *q = (v * inv).round_ties_even() as i8;
                sum += *q as i32;
            }
            self.scale[g] = scale;
            self.offset[g] = 128 * sum;
        }
    }
}

/// [`gemv_acc`] over 8-bit weights: the vectors are quantised (in groups of [`I8_VECTORS`], on the
/// stack), then each 64-row block is applied to all of them. Integer dot products with AVX512-VNNI or
/// AVX-VNNI where [`Isa`] says the CPU has them, else widened integer arithmetic that LLVM vectorises;
/// every level computes the same `i32` sums. Without VNNI, x86 CPUs widen the weights to 16 bits and
/// use `vpmaddwd` ([`block_gemv_i8_avx2`]).
fn gemv_i8_acc(
    isa: Isa,
    rows: usize,
    cols: usize,
    data: &[u8],
    scales: &[f32],
    xs: &[f32],
    ys: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vnni,avx2,fma")]
    fn avx512_vnni(rows: usize, cols: usize, data: &[u8], sc: &[f32], xs: &[f32], ys: &mut [f32]) {
        gemv_i8_blocks(rows, cols, data, sc, xs, ys, |b, s, x, y| {
            // SAFETY: this closure only runs inside a function compiled with AVX-512F and VNNI.
            unsafe { block_gemv_i8_vnni512(b, s, x, y) }
        });
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,avxvnni,fma")]
    fn avx2_vnni(rows: usize, cols: usize, data: &[u8], sc: &[f32], xs: &[f32], ys: &mut [f32]) {
        gemv_i8_blocks(rows, cols, data, sc, xs, ys, |b, s, x, y| {
            // SAFETY: this closure only runs inside a function compiled with AVX2 and AVX-VNNI.
            unsafe { block_gemv_i8_vnni256(b, s, x, y) }
        });
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn avx2(rows: usize, cols: usize, data: &[u8], sc: &[f32], xs: &[f32], ys: &mut [f32]) {
        gemv_i8_blocks(rows, cols, data, sc, xs, ys, |b, s, x, y| {
            // SAFETY: this closure only runs inside a function compiled with AVX2 and FMA.
            unsafe { block_gemv_i8_avx2(b, s, x, y) }
        });
    }
    let (d, s) = (data, scales);
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa(Level::Avx512, true)` is only built by `Isa::detect` after the CPU reported
        // AVX-512F, AVX512-VNNI, AVX2 and FMA.
        Isa(Level::Avx512, true) => unsafe { avx512_vnni(rows, cols, d, s, xs, ys) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa(Level::Avx2Fma, true)` is only built by `Isa::detect` after the CPU reported
        // AVX2, FMA and AVX-VNNI.
        Isa(Level::Avx2Fma, true) => unsafe { avx2_vnni(rows, cols, d, s, xs, ys) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: both levels are only built by `Isa::detect` after the CPU reported AVX2 and FMA.
        // (Without VNNI the 256-bit kernel is the faster one on AVX-512 CPUs too.)
        Isa(Level::Avx512 | Level::Avx2Fma, false) => unsafe { avx2(rows, cols, d, s, xs, ys) },
        Isa(Level::Baseline, _) => {
            gemv_i8_blocks(rows, cols, d, s, xs, ys, block_gemv_i8::<BASELINE_FMA>)
        }
    }
}

/// The loop of [`gemv_i8_acc`] around a per-block kernel `(block, row scales, vector, y)`: one
/// quantised copy for a single vector (a streaming step), [`I8_VECTORS`] otherwise (zeroing the larger
/// stack buffer would cost a streaming step more than its weights save).
#[inline(always)]
fn gemv_i8_blocks(
    rows: usize,
    cols: usize,
    data: &[u8],
    scales: &[f32],
    xs: &[f32],
    ys: &mut [f32],
    block_gemv: impl Fn(&[u8], &[f32], &QuantVec, &mut [f32]),
) {
    if xs.len() == cols {
        gemv_i8_chunks::<1>(rows, cols, data, scales, xs, ys, block_gemv);
    } else {
        gemv_i8_chunks::<I8_VECTORS>(rows, cols, data, scales, xs, ys, block_gemv);
    }
}

/// [`gemv_i8_blocks`] on `N` vectors at a time.
#[inline(always)]
fn gemv_i8_chunks<const N: usize>(
    rows: usize,
    cols: usize,
    data: &[u8],
    scales: &[f32],
    xs: &[f32],
    ys: &mut [f32],
    block_gemv: impl Fn(&[u8], &[f32], &QuantVec, &mut [f32]),
) {
    let block_len = BLOCK_ROWS * i8_padded_cols(cols);
    let mut quant = [const { QuantVec::ZERO }; N];
    for (xs, ys) in xs.chunks(N * cols).zip(ys.chunks_mut(N * rows)) {
        for (qv, x) in quant.iter_mut().zip(xs.chunks_exact(cols)) {
            qv.set(x);
        }
        for (bi, block) in data.chunks_exact(block_len).enumerate() {
            let r0 = bi * BLOCK_ROWS;
            let r1 = rows.min(r0 + BLOCK_ROWS);
            let sc = &scales[r0..r0 + BLOCK_ROWS];
            for (qv, y) in quant.iter().zip(ys.chunks_exact_mut(rows)) {
                block_gemv(block, sc, qv, &mut y[r0..r1]);
            }
        }
    }
}

/// `y += scales ⊙ (block · x)` for one 64-row block of 8-bit weights, in portable integer arithmetic:
/// the products of each byte of the quads with its activation are summed per byte position in `i32`
/// (in memory order, which vectorises on any SIMD; a product fits 16 bits: |w + 128| ≤ 255, |x| ≤ 127),
/// the four positions of a row are added per group and the group scale applied.
#[inline(always)]
fn block_gemv_i8<const FMA: bool>(block: &[u8], scales: &[f32], x: &QuantVec, y: &mut [f32]) {
    let (quads, _) = block.as_chunks::<{ 4 * BLOCK_ROWS }>();
    let mut acc = [0f32; BLOCK_ROWS];
    for (g, group) in quads.chunks_exact(I8_GROUP_COLS / 4).enumerate() {
        // lanes[4l + k]: row l, column k of each quad.
        let mut lanes = [0i32; 4 * BLOCK_ROWS];
        let xg = &x.q[g * I8_GROUP_COLS..][..I8_GROUP_COLS];
        let (xquads, _) = xg.as_chunks::<4>();
        for (w, xq) in group.iter().zip(xquads) {
            let xpat: [i16; 16] = std::array::from_fn(|i| xq[i % 4] as i16);
            let (w16, _) = w.as_chunks::<16>();
            let (l16, _) = lanes.as_chunks_mut::<16>();
            for (l, wv) in l16.iter_mut().zip(w16) {
                for i in 0..16 {
                    l[i] += (wv[i] as i16 * xpat[i]) as i32;
                }
            }
        }
        let (rows4, _) = lanes.as_chunks::<4>();
        for (a, r) in acc.iter_mut().zip(rows4) {
            let sum = r[0] + r[1] + r[2] + r[3];
            *a = fmadd::<FMA>((sum - x.offset[g]) as f32, x.scale[g], *a);
        }
    }
    for ((yv, a), &s) in y.iter_mut().zip(acc).zip(scales) {
        *yv = fmadd::<FMA>(a, s, *yv);
    }
}

/// [`block_gemv_i8`] with AVX512-VNNI: a column quad of the block is four registers of 16 rows, each
/// multiplied by the quad's four activations in one `vpdpbusd`; a second set of sums takes the odd
/// quads so that enough are in flight.
///
/// # Safety
/// The CPU must support AVX-512F, AVX512-VNNI and FMA.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn block_gemv_i8_vnni512(block: &[u8], scales: &[f32], x: &QuantVec, y: &mut [f32]) {
    use std::arch::x86_64::*;
    let (quads, _) = block.as_chunks::<{ 4 * BLOCK_ROWS }>();
    let mut out = [0f32; BLOCK_ROWS];
    // SAFETY (all intrinsics below): the caller guarantees the features; every load reads 64 bytes
    // inside one 256-byte quad, every store writes inside `out`.
    unsafe {
        let mut acc = [_mm512_setzero_ps(); 4];
        for (g, group) in quads.chunks_exact(I8_GROUP_COLS / 4).enumerate() {
            let mut even = [_mm512_setzero_si512(); 4];
            let mut odd = [_mm512_setzero_si512(); 4];
            let xg = &x.q[g * I8_GROUP_COLS..][..I8_GROUP_COLS];
            let (xpairs, _) = xg.as_chunks::<8>();
            let (wpairs, _) = group.as_chunks::<2>();
            for (w, xp) in wpairs.iter().zip(xpairs) {
                // A prefetch never faults, so it may point past the end of the weights.
                let ahead = w[0].as_ptr().wrapping_add(PREFETCH_BYTES);
                for line in 0..8 {
                    _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line).cast());
                }
                let x0 = _mm512_set1_epi32(i32::from_le_bytes(
                    [xp[0], xp[1], xp[2], xp[3]].map(|v| v as u8),
                ));
                let x1 = _mm512_set1_epi32(i32::from_le_bytes(
                    [xp[4], xp[5], xp[6], xp[7]].map(|v| v as u8),
                ));
                for k in 0..4 {
                    let w0 = _mm512_loadu_si512(w[0].as_ptr().add(64 * k).cast());
                    let w1 = _mm512_loadu_si512(w[1].as_ptr().add(64 * k).cast());
                    even[k] = _mm512_dpbusd_epi32(even[k], w0, x0);
                    odd[k] = _mm512_dpbusd_epi32(odd[k], w1, x1);
                }
            }
            let (offset, scale) = (_mm512_set1_epi32(x.offset[g]), _mm512_set1_ps(x.scale[g]));
            for k in 0..4 {
                let sums = _mm512_sub_epi32(_mm512_add_epi32(even[k], odd[k]), offset);
                acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc[k]);
            }
        }
        for (k, a) in acc.iter().enumerate() {
            _mm512_storeu_ps(out.as_mut_ptr().add(16 * k), *a);
        }
    }
    for ((yv, a), &s) in y.iter_mut().zip(out).zip(scales) {
        *yv = a.mul_add(s, *yv);
    }
}

/// [`block_gemv_i8`] with AVX2 only: 16 weights (4 rows × 4 columns of a quad) zero-extended to 16
/// bits and multiplied by the quad's activations with `vpmaddwd`, which sums pairs exactly in `i32`
/// (|w + 128| ≤ 255, |x| ≤ 127: no saturation, unlike `vpmaddubsw`); one horizontal add per group
/// joins the two pairs of each row. The block is done in two halves of 32 rows, so that the sums fit
/// in the 16 registers.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn block_gemv_i8_avx2(block: &[u8], scales: &[f32], x: &QuantVec, y: &mut [f32]) {
    use std::arch::x86_64::*;
    const HALF: usize = BLOCK_ROWS / 2;
    let (quads, _) = block.as_chunks::<{ 4 * BLOCK_ROWS }>();
    let mut out = [0f32; BLOCK_ROWS];
    // SAFETY (all intrinsics below): the caller guarantees the features; every load reads 16 bytes
    // inside one 256-byte quad, every store writes inside `out`.
    unsafe {
        for half in 0..2 {
            let mut acc = [_mm256_setzero_ps(); HALF / 8];
            for (g, group) in quads.chunks_exact(I8_GROUP_COLS / 4).enumerate() {
                // sums[k]: rows 4k..4k+4 of the half, two pair sums each.
                let mut sums = [_mm256_setzero_si256(); HALF / 4];
                let xg = &x.q[g * I8_GROUP_COLS..][..I8_GROUP_COLS];
                let (xquads, _) = xg.as_chunks::<4>();
                for (w, xq) in group.iter().zip(xquads) {
                    let xw = xq.map(|v| v as i16);
                    let xp = _mm256_set1_epi64x(i64::from_le_bytes(std::array::from_fn(|i| {
                        xw[i / 2].to_le_bytes()[i % 2]
                    })));
                    let w = w.as_ptr().add(4 * HALF * half);
                    for (k, sum) in sums.iter_mut().enumerate() {
                        let wv = _mm256_cvtepu8_epi16(_mm_loadu_si128(w.add(16 * k).cast()));
                        *sum = _mm256_add_epi32(*sum, _mm256_madd_epi16(wv, xp));
                    }
                }
                let (offset, scale) = (_mm256_set1_epi32(x.offset[g]), _mm256_set1_ps(x.scale[g]));
                for (j, a) in acc.iter_mut().enumerate() {
                    // hadd works per 128-bit lane: rows [0 1 4 5 | 2 3 6 7] of these eight, put back
                    // in order by the 64-bit permutation.
                    let rows8 = _mm256_hadd_epi32(sums[2 * j], sums[2 * j + 1]);
                    let rows8 = _mm256_permute4x64_epi64::<0b11_01_10_00>(rows8);
                    let f = _mm256_cvtepi32_ps(_mm256_sub_epi32(rows8, offset));
                    *a = _mm256_fmadd_ps(f, scale, *a);
                }
            }
            for (j, a) in acc.iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add(HALF * half + 8 * j), *a);
            }
        }
    }
    for ((yv, a), &s) in y.iter_mut().zip(out).zip(scales) {
        *yv = a.mul_add(s, *yv);
    }
}

/// [`block_gemv_i8`] with AVX-VNNI: a column quad of the block is eight registers of 8 rows, each
/// multiplied by the quad's four activations in one `vpdpbusd`.
///
/// # Safety
/// The CPU must support AVX2, AVX-VNNI and FMA.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn block_gemv_i8_vnni256(block: &[u8], scales: &[f32], x: &QuantVec, y: &mut [f32]) {
    use std::arch::x86_64::*;
    let (quads, _) = block.as_chunks::<{ 4 * BLOCK_ROWS }>();
    let mut out = [0f32; BLOCK_ROWS];
    // SAFETY (all intrinsics below): the caller guarantees the features; every load reads 32 bytes
    // inside one 256-byte quad, every store writes inside `out`.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 8];
        for (g, group) in quads.chunks_exact(I8_GROUP_COLS / 4).enumerate() {
            let mut sums = [_mm256_setzero_si256(); 8];
            let xg = &x.q[g * I8_GROUP_COLS..][..I8_GROUP_COLS];
            let (xquads, _) = xg.as_chunks::<4>();
            for (w, xq) in group.iter().zip(xquads) {
                let xb = _mm256_set1_epi32(i32::from_le_bytes(xq.map(|v| v as u8)));
                for (k, s) in sums.iter_mut().enumerate() {
                    let wv = _mm256_loadu_si256(w.as_ptr().add(32 * k).cast());
                    *s = _mm256_dpbusd_avx_epi32(*s, wv, xb);
                }
            }
            let (offset, scale) = (_mm256_set1_epi32(x.offset[g]), _mm256_set1_ps(x.scale[g]));
            for (a, s) in acc.iter_mut().zip(sums) {
                *a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s, offset)), scale, *a);
            }
        }
        for (k, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(out.as_mut_ptr().add(8 * k), *a);
        }
    }
    for ((yv, a), &s) in y.iter_mut().zip(out).zip(scales) {
        *yv = a.mul_add(s, *yv);
    }
}

/// Weights of a frequency convolution `[out][in·K]` packed as `[out/4][in·K][4]` (zero-padded rows),
/// the broadcast order of the register tile.
pub struct PackedConv {
    out_ch: usize,
    taps: usize,
    w: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedConv {
    /// Packs PyTorch `Conv1d` weights `[out][in][K]` (as `[out][taps]`) and bias.
    pub fn pack(w: &[f32], bias: &[f32], out_ch: usize, taps: usize) -> Self {
        let blocks = out_ch.div_ceil(CONV_OB);
        let mut pw = vec![0.0; blocks * taps * CONV_OB];
        for o in 0..out_ch {
            for j in 0..taps {
                pw[((o / CONV_OB) * taps + j) * CONV_OB + o % CONV_OB] = w[o * taps + j];
            }
        }
        let mut pb = bias.to_vec();
        pb.resize(blocks * CONV_OB, 0.0);
        Self {
            out_ch,
            taps,
            w: pw,
            bias: pb,
        }
    }
}

kernel! {
    /// `out[o][f] = act(bias[o] + Σ_j w[o][j] · col[j][f])` for `f < f_out`, where `col` holds the input
    /// taps in panels `[f_out/16][taps][16]` (see [`im2col_len`]) and `act` is ReLU if `relu`.
    /// Each 4 × 16 output tile stays in eight vector registers for the whole tap loop.
    pub fn conv_acc<FMA>(pc: &PackedConv, col: &[f32], f_out: usize, relu: bool, out: &mut [f32]) {
        let taps = pc.taps;
        let fblocks = f_out.div_ceil(CONV_FB);
        for (ob, (wpanel, bias)) in pc
            .w
            .chunks_exact(taps * CONV_OB)
            .zip(pc.bias.chunks_exact(CONV_OB))
            .enumerate()
        {
            let (wv, _) = wpanel.as_chunks::<CONV_OB>();
            for fb in 0..fblocks {
                let (cv, _) = col[fb * taps * CONV_FB..(fb + 1) * taps * CONV_FB].as_chunks::<CONV_FB>();
                let mut acc = [[0f32; CONV_FB]; CONV_OB];
                for (a, &b) in acc.iter_mut().zip(bias) {
                    *a = [b; CONV_FB];
                }
                for (w, c) in wv.iter().zip(cv) {
                    for (a, &wr) in acc.iter_mut().zip(w) {
                        for l in 0..CONV_FB {
                            a[l] = fmadd::<FMA>(wr, c[l], a[l]);
                        }
                    }
                }
                let f0 = fb * CONV_FB;
                let n = CONV_FB.min(f_out - f0);
                for (r, a) in acc.iter().enumerate() {
                    let o = ob * CONV_OB + r;
                    if o < pc.out_ch {
                        for (dst, &v) in out[o * f_out + f0..][..n].iter_mut().zip(a) {
                            *dst = if relu && v < 0.0 { 0.0 } else { v };
                        }
                    }
                }
            }
        }
    }
}

/// Length of the im2col panels for `taps` taps and `f_out` outputs.
pub fn im2col_len(taps: usize, f_out: usize) -> usize {
    f_out.div_ceil(CONV_FB) * CONV_FB * taps
}

/// Fills the im2col panels `col[f/16][i·K + k][f%16] = src[i][f·stride + k − K/2]` (zero outside the
/// input, and for the padding bins past `f_out`). `src` is `[in_ch][f_src]`, nearest-neighbour upsampled
/// ×2 first if `up2`. `row` is scratch for one zero-padded input row.
#[allow(clippy::too_many_arguments)]
pub fn im2col(
    src: &[f32],
    f_in: usize,
    kernel: usize,
    stride: usize,
    up2: bool,
    f_out: usize,
    row: &mut [f32],
    col: &mut [f32],
) {
    let in_ch = src.len() / f_in;
    let taps = in_ch * kernel;
    let (pad, fblocks) = (kernel / 2, f_out.div_ceil(CONV_FB));
    // Every index the panels read, padding bins included, falls inside this zero-padded row.
    let row_len = fblocks * CONV_FB * stride + kernel;
    let row = &mut row[..row_len];
    let f_src = if up2 { 2 * f_in } else { f_in };
    for (i, s) in src.chunks_exact(f_in).enumerate() {
        row.fill(0.0);
        let body = &mut row[pad..pad + f_src];
        if up2 {
            for (pair, &v) in body.chunks_exact_mut(2).zip(s) {
                pair.fill(v);
            }
        } else {
            body.copy_from_slice(s);
        }
        for k in 0..kernel {
            for fb in 0..fblocks {
                let dst = &mut col[(fb * taps + i * kernel + k) * CONV_FB..][..CONV_FB];
                let start = fb * CONV_FB * stride + k;
                if stride == 1 {
                    dst.copy_from_slice(&row[start..start + CONV_FB]);
                } else {
                    for (l, d) in dst.iter_mut().enumerate() {
                        *d = row[start + l * stride];
                    }
                }
            }
        }
    }
}

/// Length of the row scratch [`im2col`] needs.
pub fn im2col_row_len(f_out: usize, stride: usize, kernel: usize) -> usize {
    f_out.div_ceil(CONV_FB) * CONV_FB * stride + kernel
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
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
        // same order, so on one level with and without VNNI the results are identical.
        let (rows, cols, n) = (200, 700, 3);
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

    #[test]
    fn conv_matches_naive_for_strides_upsampling_and_odd_sizes() {
        for (in_ch, out_ch, f_in, kernel, stride, up2) in [
            (3, 5, 20, 3, 1, false),
            (2, 32, 96, 3, 2, false),
            (4, 10, 7, 3, 2, false),
            (6, 3, 8, 3, 1, true),
            (32, 10, 96, 1, 1, false),
        ] {
            let taps = in_ch * kernel;
            let (w, b, x) = (
                pseudo(out_ch * taps, 5),
                pseudo(out_ch, 6),
                pseudo(in_ch * f_in, 7),
            );
            let f_src = if up2 { 2 * f_in } else { f_in };
            let f_out = f_src.div_ceil(stride);
            let mut row = vec![0.0; im2col_row_len(f_out, stride, kernel)];
            let mut col = vec![f32::NAN; im2col_len(taps, f_out)];
            im2col(&x, f_in, kernel, stride, up2, f_out, &mut row, &mut col);
            let pc = PackedConv::pack(&w, &b, out_ch, taps);
            for relu in [false, true] {
                let mut out = vec![0.0; out_ch * f_out];
                conv_acc(Isa::detect(), &pc, &col, f_out, relu, &mut out);
                for o in 0..out_ch {
                    for f in 0..f_out {
                        let mut want = b[o] as f64;
                        for i in 0..in_ch {
                            for k in 0..kernel {
                                let p = (f * stride + k) as isize - (kernel / 2) as isize;
                                if p >= 0 && (p as usize) < f_src {
                                    let v = if up2 {
                                        x[i * f_in + p as usize / 2]
                                    } else {
                                        x[i * f_in + p as usize]
                                    };
                                    want += w[(o * in_ch + i) * kernel + k] as f64 * v as f64;
                                }
                            }
                        }
                        if relu {
                            want = want.max(0.0);
                        }
                        assert!((out[o * f_out + f] as f64 - want).abs() < 1e-5);
                    }
                }
            }
        }
    }
}
