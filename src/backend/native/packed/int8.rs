//! The int8 storage of [`super::WeightPrecision::I8`]: per-row scales, the quad-interleaved layout,
//! per-group quantisation of the input vectors, and the dense kernels (AVX512-VNNI, AVX-VNNI, AVX2,
//! portable), chosen at run time.
use super::*;
use crate::backend::native::simd::Int8Kernel;

/// Columns per activation group of [`super::WeightPrecision::I8`]: each group of a vector is quantised with
/// its own scale, so a large activation only coarsens the 63 values beside it.
pub(super) const I8_GROUP_COLS: usize = 64;
/// How far ahead of the column quads it multiplies the AVX512-VNNI kernel asks for the weights (the
/// stream then comes from L3 faster than the hardware prefetcher alone brings it: 0.064 → 0.058 ms
/// per step here, side by side; it crosses into the next block, which is where it continues).
const PREFETCH_BYTES: usize = 4096;
/// Vectors the int8 kernel quantises at once (their 8-bit copies live on the stack).
const I8_VECTORS: usize = 8;
/// Widest matrix [`super::WeightPrecision::I8`] takes (the stack space of a quantised vector).
pub(super) const I8_MAX_COLS: usize = 2048;

/// Scale of each row for [`WeightPrecision::I8`]: max |w| / 127 (1 for an all-zero row), padded with
/// ones to whole blocks. Fails on a non-finite weight.
pub(super) fn row_scales(w: &[f32], rows: usize, cols: usize) -> Result<Vec<f32>> {
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

/// The symmetric 8-bit scale of activations whose largest magnitude is `max` (it maps to 127), and its
/// inverse; (0, 0) when `max` is zero or not finite, so that such values contribute nothing.
#[inline(always)]
pub(super) fn scale_for_max(max: f32) -> (f32, f32) {
    if max > 0.0 && max.is_finite() {
        (max / 127.0, 127.0 / max)
    } else {
        (0.0, 0.0)
    }
}

/// `v / scale` rounded to the nearest integer (|v| ≤ 127 · scale by construction).
pub(super) fn quantize_i8(v: f32, scale: f32) -> i8 {
    (v / scale).round().clamp(-127.0, 127.0) as i8
}

/// Columns of [`WeightPrecision::I8`] storage: `cols` rounded up to whole activation groups.
pub(super) fn i8_padded_cols(cols: usize) -> usize {
    cols.div_ceil(I8_GROUP_COLS) * I8_GROUP_COLS
}

/// The `[rows/64][cols/4][64][4]` layout of [`WeightPrecision::I8`] (rows padded to 64 and columns to
/// whole groups, with zero weights): each 32-bit lane holds four consecutive weights of one row, what
/// a VNNI dot-product instruction multiplies by four activations. Stored as `q + 128` (unsigned):
/// those instructions take one unsigned operand; the kernel subtracts `128 · Σ x` again.
pub(super) fn pack_quads(w: &[f32], rows: usize, cols: usize, scales: &[f32]) -> Vec<u8> {
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

/// One input vector quantised for the int8 kernel: 8-bit values (zero past the real columns), and per
/// group of [`I8_GROUP_COLS`] the scale and the `128 · Σ q` the unsigned weights add.
pub(super) struct QuantVec {
    pub(super) q: [i8; I8_MAX_COLS],
    pub(super) scale: [f32; I8_MAX_COLS / I8_GROUP_COLS],
    pub(super) offset: [i32; I8_MAX_COLS / I8_GROUP_COLS],
}

impl QuantVec {
    pub(super) const ZERO: Self = Self {
        q: [0; I8_MAX_COLS],
        scale: [0.0; I8_MAX_COLS / I8_GROUP_COLS],
        offset: [0; I8_MAX_COLS / I8_GROUP_COLS],
    };

    /// Quantises `x`, each group symmetric with its largest |x| mapped to 127 (a group of zeros, or
    /// one holding a non-finite value, gets scale 0 and contributes nothing).
    #[inline(always)]
    pub(super) fn set(&mut self, x: &[f32]) {
        let cols_p = i8_padded_cols(x.len());
        self.q[x.len()..cols_p].fill(0);
        for (g, xg) in x.chunks(I8_GROUP_COLS).enumerate() {
            let max = xg.iter().fold(0f32, |m, v| m.max(v.abs()));
            let (scale, inv) = scale_for_max(max);
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

    /// [`QuantVec::set`] with AVX-512, the same bytes, scales and offsets: the maximum skips NaN as
    /// `f32::max` does (`vmaxps` returns its second operand when either is NaN), the conversion
    /// rounds ties to even (the default rounding mode), NaN products become 0 and the rest saturate
    /// to [−128, 127], as `as i8` does. The scalar loop, which LLVM cannot vectorise (a NaN-aware
    /// maximum and a saturating cast), was a sixth of an offline `native-i8` run.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) unsafe fn set_avx512(&mut self, x: &[f32]) {
        use std::arch::x86_64::*;
        for (g, xg) in x.chunks(I8_GROUP_COLS).enumerate() {
            // SAFETY (all intrinsics below): the caller guarantees AVX-512F; the masked loads read
            // only lanes inside `xg`, and each 16-byte store writes inside the group's 64 bytes of
            // `q` (a group ends within `I8_MAX_COLS`, checked when the matrix was packed). Lanes
            // past the end of `x` load as 0 and store as 0, the padding the kernels expect.
            unsafe {
                let mut v = [_mm512_setzero_ps(); I8_GROUP_COLS / 16];
                for (k, vk) in v.iter_mut().enumerate() {
                    let lanes = xg.len().saturating_sub(16 * k).min(16);
                    if lanes > 0 {
                        let mask = (((1u32 << lanes) - 1) & 0xffff) as __mmask16;
                        *vk = _mm512_maskz_loadu_ps(mask, xg.as_ptr().add(16 * k));
                    }
                }
                let mut max = _mm512_setzero_ps();
                for vk in v {
                    max = _mm512_max_ps(_mm512_abs_ps(vk), max);
                }
                let (scale, inv) = scale_for_max(_mm512_reduce_max_ps(max));
                let inv = _mm512_set1_ps(inv);
                let (lo, hi) = (_mm512_set1_ps(-128.0), _mm512_set1_ps(127.0));
                let mut sum = _mm512_setzero_si512();
                for (k, vk) in v.into_iter().enumerate() {
                    let p = _mm512_mul_ps(vk, inv);
                    let ordered = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(p, p);
                    // Clamped before the conversion, which has no saturation of its own: the scale
                    // of a subnormal maximum overflows to Inf, and `as i8` takes ±Inf to 127/−128.
                    let p = _mm512_min_ps(_mm512_max_ps(p, lo), hi);
                    let bytes = _mm512_cvtsepi32_epi8(_mm512_maskz_cvtps_epi32(ordered, p));
                    _mm_storeu_si128(
                        self.q.as_mut_ptr().add(g * I8_GROUP_COLS + 16 * k).cast(),
                        bytes,
                    );
                    sum = _mm512_add_epi32(sum, _mm512_cvtepi8_epi32(bytes));
                }
                self.scale[g] = scale;
                self.offset[g] = 128 * _mm512_reduce_add_epi32(sum);
            }
        }
    }
}

/// [`gemv_acc`] over 8-bit weights: the vectors are quantised (in groups of [`I8_VECTORS`], on the
/// stack), then each 64-row block is applied to all of them. Integer dot products with AVX512-VNNI or
/// AVX-VNNI where [`Isa`] says the CPU has them, else widened integer arithmetic that LLVM vectorises;
/// every level computes the same `i32` sums. Without VNNI, x86 CPUs widen the weights to 16 bits and
/// use `vpmaddwd` ([`block_gemv_i8_avx2`]).
pub(super) fn gemv_i8_acc(
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
        // SAFETY: this function is compiled with AVX-512F and VNNI, all the callee needs.
        unsafe { gemv_i8_vnni512(rows, cols, data, sc, xs, ys) }
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
    // The same choice `registry::default_backend` makes its decision from.
    match isa.int8_kernel() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Avx512Vnni` comes only from `Isa(Level::Avx512, true)`, which only `Isa::detect`
        // builds, after the CPU reported AVX-512F, AVX512-VNNI, AVX2 and FMA.
        Int8Kernel::Avx512Vnni => unsafe { avx512_vnni(rows, cols, d, s, xs, ys) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `AvxVnni` comes only from `Isa(Level::Avx2Fma, true)`, which only `Isa::detect`
        // builds, after the CPU reported AVX2, FMA and AVX-VNNI.
        Int8Kernel::AvxVnni => unsafe { avx2_vnni(rows, cols, d, s, xs, ys) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Avx2` comes only from the AVX levels, which only `Isa::detect` builds, after the
        // CPU reported AVX2 and FMA.
        Int8Kernel::Avx2 => unsafe { avx2(rows, cols, d, s, xs, ys) },
        // `Portable`, the only kernel off x86_64.
        _ => gemv_i8_blocks(rows, cols, d, s, xs, ys, block_gemv_i8::<BASELINE_FMA>),
    }
}

/// The loop of [`gemv_i8_acc`] for AVX512-VNNI: [`gemv_i8_blocks`]'s, with the vectors quantised by
/// [`QuantVec::set_avx512`] and, for several vectors (offline blocks), four of them multiplied per
/// load of the weights ([`block_gemv_i8_vnni512_x4`]); the same sums and float steps per vector.
///
/// # Safety
/// The CPU must support AVX-512F, AVX512-VNNI and FMA.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn gemv_i8_vnni512(
    rows: usize,
    cols: usize,
    data: &[u8],
    scales: &[f32],
    xs: &[f32],
    ys: &mut [f32],
) {
    let block_len = BLOCK_ROWS * i8_padded_cols(cols);
    if xs.len() == cols {
        let mut qv = QuantVec::ZERO;
        // SAFETY: the caller guarantees the features (here and below).
        unsafe { qv.set_avx512(xs) };
        for (bi, block) in data.chunks_exact(block_len).enumerate() {
            let r0 = bi * BLOCK_ROWS;
            let (r1, sc) = (rows.min(r0 + BLOCK_ROWS), &scales[r0..r0 + BLOCK_ROWS]);
            unsafe { block_gemv_i8_vnni512(block, sc, &qv, &mut ys[r0..r1]) };
        }
        return;
    }
    let mut quant = [const { QuantVec::ZERO }; I8_VECTORS];
    for (xs, ys) in xs
        .chunks(I8_VECTORS * cols)
        .zip(ys.chunks_mut(I8_VECTORS * rows))
    {
        let n = xs.len() / cols;
        for (qv, x) in quant.iter_mut().zip(xs.chunks_exact(cols)) {
            unsafe { qv.set_avx512(x) };
        }
        for (bi, block) in data.chunks_exact(block_len).enumerate() {
            let r0 = bi * BLOCK_ROWS;
            let (r1, sc) = (rows.min(r0 + BLOCK_ROWS), &scales[r0..r0 + BLOCK_ROWS]);
            let (fours, rest) = quant[..n].as_chunks::<4>();
            let mut ys = ys.chunks_exact_mut(rows);
            for q4 in fours {
                let y4: [&mut [f32]; 4] = std::array::from_fn(|_| match ys.next() {
                    Some(y) => &mut y[r0..r1],
                    None => unreachable!("one output row per quantised vector"),
                });
                unsafe { block_gemv_i8_vnni512_x4(block, sc, q4, y4) };
            }
            for (qv, y) in rest.iter().zip(ys) {
                unsafe { block_gemv_i8_vnni512(block, sc, qv, &mut y[r0..r1]) };
            }
        }
    }
}

/// The loop of [`gemv_i8_acc`] around a per-block kernel `(block, row scales, vector, y)`: one
/// quantised copy for a single vector (a streaming step), [`I8_VECTORS`] otherwise (zeroing the larger
/// stack buffer would cost a streaming step more than its weights save).
#[inline(always)]
pub(super) fn gemv_i8_blocks(
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
pub(super) fn gemv_i8_chunks<const N: usize>(
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
pub(super) fn block_gemv_i8<const FMA: bool>(
    block: &[u8],
    scales: &[f32],
    x: &QuantVec,
    y: &mut [f32],
) {
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
pub(super) unsafe fn block_gemv_i8_vnni512(
    block: &[u8],
    scales: &[f32],
    x: &QuantVec,
    y: &mut [f32],
) {
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

/// [`block_gemv_i8_vnni512`] on four vectors: each column quad's four weight registers are loaded
/// once and multiplied with all four (16 sums, enough independent chains without an odd set). The
/// same `i32` sums, and the same float steps per vector, as four calls of the one-vector kernel.
///
/// # Safety
/// The CPU must support AVX-512F, AVX512-VNNI and FMA.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn block_gemv_i8_vnni512_x4(
    block: &[u8],
    scales: &[f32],
    xs: &[QuantVec; 4],
    ys: [&mut [f32]; 4],
) {
    use std::arch::x86_64::*;
    let (quads, _) = block.as_chunks::<{ 4 * BLOCK_ROWS }>();
    let mut out = [[0f32; BLOCK_ROWS]; 4];
    // SAFETY (all intrinsics below): the caller guarantees the features; every load reads 64 bytes
    // inside one 256-byte quad, every store writes inside `out`.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 4]; 4];
        for (g, group) in quads.chunks_exact(I8_GROUP_COLS / 4).enumerate() {
            let mut sums = [[_mm512_setzero_si512(); 4]; 4];
            for (qi, w) in group.iter().enumerate() {
                let ahead = w.as_ptr().wrapping_add(PREFETCH_BYTES);
                for line in 0..4 {
                    _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line).cast());
                }
                let wk: [__m512i; 4] =
                    std::array::from_fn(|k| _mm512_loadu_si512(w.as_ptr().add(64 * k).cast()));
                let col = g * I8_GROUP_COLS + 4 * qi;
                for (x, sv) in xs.iter().zip(sums.iter_mut()) {
                    let xq = &x.q[col..col + 4];
                    let xb = _mm512_set1_epi32(i32::from_le_bytes(
                        [xq[0], xq[1], xq[2], xq[3]].map(|v| v as u8),
                    ));
                    for (s, w) in sv.iter_mut().zip(wk) {
                        *s = _mm512_dpbusd_epi32(*s, w, xb);
                    }
                }
            }
            for ((x, sv), av) in xs.iter().zip(sums).zip(acc.iter_mut()) {
                let (offset, scale) = (_mm512_set1_epi32(x.offset[g]), _mm512_set1_ps(x.scale[g]));
                for (s, a) in sv.into_iter().zip(av.iter_mut()) {
                    let s = _mm512_sub_epi32(s, offset);
                    *a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, *a);
                }
            }
        }
        for (av, o) in acc.iter().zip(out.iter_mut()) {
            for (k, a) in av.iter().enumerate() {
                _mm512_storeu_ps(o.as_mut_ptr().add(16 * k), *a);
            }
        }
    }
    for (y, o) in ys.into_iter().zip(out) {
        for ((yv, a), &s) in y.iter_mut().zip(o).zip(scales) {
            *yv = a.mul_add(s, *yv);
        }
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
pub(super) unsafe fn block_gemv_i8_avx2(block: &[u8], scales: &[f32], x: &QuantVec, y: &mut [f32]) {
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
pub(super) unsafe fn block_gemv_i8_vnni256(
    block: &[u8],
    scales: &[f32],
    x: &QuantVec,
    y: &mut [f32],
) {
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
