//! Run-time selected vector kernels of the native backend: matrix-vector products, the frequency
//! convolution micro-kernel, and element-wise activations.
//!
//! Every kernel is written once as plain Rust that LLVM auto-vectorises (fixed-width lane arrays, no
//! bounds checks in the inner loops) and compiled twice by [`kernel!`]: for the baseline target and, on
//! x86_64, for AVX2 + FMA. [`Isa::detect`] picks the variant once, when the backend is built, so the hot
//! path pays one predictable branch per kernel call.
use super::fastmath;

/// Accumulator width of the dot products: two AVX2 registers per row, four rows at a time, which keeps
/// eight independent FMA chains in flight (FMA latency 4 cycles × 2 ports).
const LANES: usize = 16;

/// Fused multiply-add when the kernel is compiled for a CPU that has it; a plain `a * b + c` otherwise
/// (without hardware FMA `mul_add` would call a slow soft-float routine).
#[inline(always)]
pub(super) fn fmadd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Whether the baseline target (no run-time detection) has a hardware FMA.
const BASELINE_FMA: bool = cfg!(any(target_arch = "aarch64", target_feature = "fma"));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

/// The instruction set the kernels run with. The AVX2 level can only be obtained from
/// [`Isa::detect`], which is what makes the `unsafe` calls in [`kernel!`] sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isa(Level);

impl Isa {
    /// The best level this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Self(Level::Avx2Fma);
        }
        Self(Level::Baseline)
    }

    /// The portable level (for tests comparing the two).
    #[cfg(test)]
    pub fn baseline() -> Self {
        Self(Level::Baseline)
    }
}

/// Defines `pub fn name(isa: Isa, args..)` from a body generic over `const FMA: bool`, compiled for the
/// baseline and (x86_64) for AVX2 + FMA. Helpers called from the body must be `#[inline(always)]` so they
/// are compiled with the enabled features too.
macro_rules! kernel {
    ($(#[$doc:meta])* pub fn $name:ident<$fma:ident>($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)] // the kernels take plain slices, grouped by their call sites
        pub fn $name(isa: Isa, $($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn imp<const $fma: bool>($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            fn avx2($($arg: $ty),*) {
                imp::<true>($($arg),*)
            }
            match isa.0 {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Level::Avx2Fma` is only built by `Isa::detect` after the CPU reported AVX2 and FMA.
                Level::Avx2Fma => unsafe { avx2($($arg),*) },
                Level::Baseline => imp::<BASELINE_FMA>($($arg),*),
            }
        }
    };
}

#[inline(always)]
fn hsum(a: &[f32; LANES]) -> f32 {
    // Pairwise tree: the same order for every level, and shuffles LLVM maps onto register halves.
    let mut v = *a;
    let mut w = LANES / 2;
    while w > 0 {
        for l in 0..w {
            v[l] += v[l + w];
        }
        w /= 2;
    }
    v[0]
}

/// Four dot products sharing `x`: one pass over `x` for four weight rows.
#[inline(always)]
fn dot4<const FMA: bool>(w: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    let (xc, xr) = x.as_chunks::<LANES>();
    let (w0, w0r) = w[0].as_chunks::<LANES>();
    let (w1, w1r) = w[1].as_chunks::<LANES>();
    let (w2, w2r) = w[2].as_chunks::<LANES>();
    let (w3, w3r) = w[3].as_chunks::<LANES>();
    let mut acc = [[0f32; LANES]; 4];
    for ((((xv, a), b), c), d) in xc.iter().zip(w0).zip(w1).zip(w2).zip(w3) {
        for l in 0..LANES {
            acc[0][l] = fmadd::<FMA>(a[l], xv[l], acc[0][l]);
            acc[1][l] = fmadd::<FMA>(b[l], xv[l], acc[1][l]);
            acc[2][l] = fmadd::<FMA>(c[l], xv[l], acc[2][l]);
            acc[3][l] = fmadd::<FMA>(d[l], xv[l], acc[3][l]);
        }
    }
    let mut out = [hsum(&acc[0]), hsum(&acc[1]), hsum(&acc[2]), hsum(&acc[3])];
    for (i, &xv) in xr.iter().enumerate() {
        out[0] = fmadd::<FMA>(w0r[i], xv, out[0]);
        out[1] = fmadd::<FMA>(w1r[i], xv, out[1]);
        out[2] = fmadd::<FMA>(w2r[i], xv, out[2]);
        out[3] = fmadd::<FMA>(w3r[i], xv, out[3]);
    }
    out
}

#[inline(always)]
fn dot<const FMA: bool>(w: &[f32], x: &[f32]) -> f32 {
    let (xc, xr) = x.as_chunks::<LANES>();
    let (wc, wr) = w.as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for (xv, a) in xc.iter().zip(wc) {
        for l in 0..LANES {
            acc[l] = fmadd::<FMA>(a[l], xv[l], acc[l]);
        }
    }
    let mut s = hsum(&acc);
    for (a, xv) in wr.iter().zip(xr) {
        s = fmadd::<FMA>(*a, *xv, s);
    }
    s
}

/// `y += W · x` for the rows of `w` (`[y.len()][cols]`), four rows per pass.
#[inline(always)]
fn gemv_rows<const FMA: bool>(w: &[f32], cols: usize, x: &[f32], y: &mut [f32]) {
    let mut quads = w.chunks_exact(4 * cols);
    let mut ys = y.chunks_exact_mut(4);
    for (wq, yq) in (&mut quads).zip(&mut ys) {
        let (w0, rest) = wq.split_at(cols);
        let (w1, rest) = rest.split_at(cols);
        let (w2, w3) = rest.split_at(cols);
        let s = dot4::<FMA>([w0, w1, w2, w3], x);
        for (yv, sv) in yq.iter_mut().zip(s) {
            *yv += sv;
        }
    }
    for (wr, yv) in quads
        .remainder()
        .chunks_exact(cols)
        .zip(ys.into_remainder())
    {
        *yv += dot::<FMA>(wr, x);
    }
}

kernel! {
    /// `ys[j] += W · xs[j]` for every vector `j` of `xs` (`[n][cols]`, `ys`: `[n][rows]`), with `w` the
    /// row-major `[rows][cols]` matrix (PyTorch `Linear` layout). With several vectors the rows are taken
    /// in blocks small enough to stay in L1 while every vector uses them; per vector the arithmetic is the
    /// same as with one, so batched and single-frame results are identical.
    pub fn gemv_acc<FMA>(w: &[f32], cols: usize, xs: &[f32], ys: &mut [f32]) {
        let rows = w.len() / cols;
        debug_assert_eq!(xs.len() / cols, ys.len() / rows);
        let block_rows = ((8192 / cols.max(1)).max(4) / 4 * 4).min(rows.max(1));
        for (bi, wb) in w.chunks(block_rows * cols).enumerate() {
            let r0 = bi * block_rows;
            let r1 = r0 + wb.len() / cols;
            for (x, y) in xs.chunks_exact(cols).zip(ys.chunks_exact_mut(rows)) {
                gemv_rows::<FMA>(wb, cols, x, &mut y[r0..r1]);
            }
        }
    }
}

kernel! {
    /// RMS norm in place: `x = x / sqrt(mean(x²) + eps) · w`.
    pub fn rmsnorm_inplace<FMA>(x: &mut [f32], w: &[f32], eps: f32) {
        let mean_sq = dot::<FMA>(x, x) / x.len() as f32;
        let inv_rms = 1.0 / (mean_sq + eps).sqrt();
        for (v, &wv) in x.iter_mut().zip(w) {
            *v = *v * inv_rms * wv;
        }
    }
}

kernel! {
    /// `y += Wᵀ-stored product`: `wt` is `[cols][rows]` (the transpose of a `[rows][cols]` matrix), so the
    /// product is a sum of `cols` scaled rows, which vectorises over `rows` for short `cols` (`dt_proj`).
    pub fn gemv_t_acc<FMA>(wt: &[f32], x: &[f32], y: &mut [f32]) {
        for (row, &a) in wt.chunks_exact(y.len()).zip(x) {
            for (yv, &wv) in y.iter_mut().zip(row) {
                *yv = fmadd::<FMA>(a, wv, *yv);
            }
        }
    }
}

kernel! {
    /// Small matrix product of the frequency convolutions: `out[o][f] += Σ_j w[o][j] · col[j][f]` with
    /// `w`: `[out][taps]`, `col`: `[taps][f_len]`, `out`: `[out][f_len]`.
    pub fn conv_mm<FMA>(w: &[f32], col: &[f32], f_len: usize, out: &mut [f32]) {
        let taps = col.len() / f_len;
        for (wrow, orow) in w.chunks_exact(taps).zip(out.chunks_exact_mut(f_len)) {
            for (&a, crow) in wrow.iter().zip(col.chunks_exact(f_len)) {
                for (ov, &cv) in orow.iter_mut().zip(crow) {
                    *ov = fmadd::<FMA>(a, cv, *ov);
                }
            }
        }
    }
}

kernel! {
    /// `x = sigmoid(x)` element-wise.
    pub fn sigmoid_inplace<FMA>(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = fastmath::sigmoid::<FMA>(*v);
        }
    }
}

kernel! {
    /// `x = tanh(x)` element-wise.
    pub fn tanh_inplace<FMA>(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = fastmath::tanh::<FMA>(*v);
        }
    }
}

kernel! {
    /// `x = softplus(x)` element-wise.
    pub fn softplus_inplace<FMA>(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = fastmath::softplus::<FMA>(*v);
        }
    }
}

kernel! {
    /// `y = y ⊙ silu(z)` element-wise (the Mamba output gate).
    pub fn mul_silu<FMA>(y: &mut [f32], z: &[f32]) {
        for (yv, &zv) in y.iter_mut().zip(z) {
            *yv *= fastmath::silu::<FMA>(zv);
        }
    }
}

kernel! {
    /// One step of the causal depthwise convolution over time followed by SiLU:
    /// `xc[c] = silu(bias[c] + Σ_k w[k][c] · x_{t-K+1+k}[c])`, where the `K-1` past inputs are the rows of
    /// `hist` (`[K-1][di]`) in the order given by `slots` (oldest first) and `xi` is the current input.
    /// `w` is the transposed conv weight `[K][di]`.
    pub fn causal_conv_silu<FMA>(
        w: &[f32],
        bias: &[f32],
        hist: &[f32],
        slots: &[usize],
        xi: &[f32],
        xc: &mut [f32],
    ) {
        let di = xc.len();
        xc.copy_from_slice(bias);
        for (&slot, wk) in slots.iter().zip(w.chunks_exact(di)) {
            let past = &hist[slot * di..(slot + 1) * di];
            for ((o, &p), &a) in xc.iter_mut().zip(past).zip(wk) {
                *o = fmadd::<FMA>(a, p, *o);
            }
        }
        let w_now = &w[slots.len() * di..(slots.len() + 1) * di];
        for ((o, &x), &a) in xc.iter_mut().zip(xi).zip(w_now) {
            *o = fastmath::silu::<FMA>(fmadd::<FMA>(a, x, *o));
        }
    }
}

kernel! {
    /// Zero-order-hold selective-scan step (Mamba, Gu & Dao 2023, Eq. 4) for all channels:
    /// `h[n][c] = exp(dt[c]·A[n][c])·h[n][c] + dt[c]·B[n]·xc[c]`, `y[c] = Σ_n C[n]·h[n][c] + D[c]·xc[c]`.
    /// `a`, `h`: `[N][di]` (channel innermost, so every loop vectorises over channels).
    pub fn ssm_step<FMA>(
        a: &[f32],
        dt: &[f32],
        b: &[f32],
        c: &[f32],
        d: &[f32],
        xc: &[f32],
        h: &mut [f32],
        y: &mut [f32],
    ) {
        let di = y.len();
        for ((yv, &dv), &xv) in y.iter_mut().zip(d).zip(xc) {
            *yv = dv * xv;
        }
        for (((an, hn), &bn), &cn) in a.chunks_exact(di).zip(h.chunks_exact_mut(di)).zip(b).zip(c) {
            for ((((hv, &av), &dtv), &xv), yv) in
                hn.iter_mut().zip(an).zip(dt).zip(xc).zip(y.iter_mut())
            {
                let decay = fastmath::exp::<FMA>(dtv * av);
                *hv = fmadd::<FMA>(decay, *hv, dtv * bn * xv);
                *yv = fmadd::<FMA>(cn, *hv, *yv);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_gemv(w: &[f32], cols: usize, x: &[f32]) -> Vec<f64> {
        w.chunks_exact(cols)
            .map(|r| r.iter().zip(x).map(|(a, b)| *a as f64 * *b as f64).sum())
            .collect()
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn gemv_matches_naive_for_odd_shapes_and_both_levels() {
        for isa in [Isa::detect(), Isa::baseline()] {
            for (rows, cols, n) in [
                (7, 37, 1),
                (48, 512, 3),
                (1024, 256, 2),
                (5, 16, 4),
                (1, 256, 5),
            ] {
                let w = pseudo(rows * cols, 1);
                let xs = pseudo(n * cols, 2);
                let mut ys = vec![0.5f32; n * rows];
                gemv_acc(isa, &w, cols, &xs, &mut ys);
                for j in 0..n {
                    let want = naive_gemv(&w, cols, &xs[j * cols..(j + 1) * cols]);
                    for (got, want) in ys[j * rows..(j + 1) * rows].iter().zip(want) {
                        assert!((*got as f64 - 0.5 - want).abs() < 1e-4 * (1.0 + want.abs()));
                    }
                }
            }
        }
    }

    #[test]
    fn batched_gemv_equals_single_vector_gemv_exactly() {
        let isa = Isa::detect();
        let (rows, cols, n) = (1024, 256, 5);
        let w = pseudo(rows * cols, 3);
        let xs = pseudo(n * cols, 4);
        let mut batched = vec![0.0; n * rows];
        gemv_acc(isa, &w, cols, &xs, &mut batched);
        for j in 0..n {
            let mut single = vec![0.0; rows];
            gemv_acc(isa, &w, cols, &xs[j * cols..(j + 1) * cols], &mut single);
            assert_eq!(single, batched[j * rows..(j + 1) * rows]);
        }
    }

    #[test]
    fn transposed_gemv_and_conv_mm_match_naive() {
        let isa = Isa::detect();
        let (rows, cols) = (33, 16);
        let w = pseudo(rows * cols, 5);
        let wt: Vec<f32> = (0..cols * rows)
            .map(|k| w[(k % rows) * cols + k / rows])
            .collect();
        let x = pseudo(cols, 6);
        let mut y = vec![0.0; rows];
        gemv_t_acc(isa, &wt, &x, &mut y);
        for (got, want) in y.iter().zip(naive_gemv(&w, cols, &x)) {
            assert!((*got as f64 - want).abs() < 1e-5);
        }
        // conv_mm is the same product with f_len vectors stored column-wise.
        let (outs, taps, f_len) = (6, 9, 10);
        let w = pseudo(outs * taps, 7);
        let col = pseudo(taps * f_len, 8);
        let mut out = vec![0.0; outs * f_len];
        conv_mm(isa, &w, &col, f_len, &mut out);
        for o in 0..outs {
            for f in 0..f_len {
                let want: f64 = (0..taps)
                    .map(|j| w[o * taps + j] as f64 * col[j * f_len + f] as f64)
                    .sum();
                assert!((out[o * f_len + f] as f64 - want).abs() < 1e-5);
            }
        }
    }
}
