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
pub(super) const BASELINE_FMA: bool = cfg!(any(target_arch = "aarch64", target_feature = "fma"));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// The instruction set the kernels run with: the level, and whether the CPU has the 8-bit dot product
/// instructions (VNNI) of that level (AVX512-VNNI at [`Level::Avx512`], AVX-VNNI at
/// [`Level::Avx2Fma`]; never at the baseline). The AVX levels and VNNI can only be obtained from
/// [`Isa::detect`], which is what makes the `unsafe` calls in [`kernel!`] (and in `packed::gemv_acc`)
/// sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isa(pub(super) Level, pub(super) bool);

/// The CPU features the kernels are chosen by, as the CPU reports them (all false off x86_64).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    /// AVX2.
    pub avx2: bool,
    /// FMA3.
    pub fma: bool,
    /// F16C (half-float conversions).
    pub f16c: bool,
    /// AVX-512 Foundation.
    pub avx512f: bool,
    /// AVX-512 Byte and Word (every AVX-512 CPU but the Xeon Phi ones has it).
    pub avx512bw: bool,
    /// AVX512-VNNI (8-bit dot products on 512-bit registers).
    pub avx512vnni: bool,
    /// AVX-VNNI (the same on 256-bit registers).
    pub avxvnni: bool,
}

impl CpuFeatures {
    /// What this CPU reports (the standard library caches the query).
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        return Self {
            avx2: std::arch::is_x86_feature_detected!("avx2"),
            fma: std::arch::is_x86_feature_detected!("fma"),
            f16c: std::arch::is_x86_feature_detected!("f16c"),
            avx512f: std::arch::is_x86_feature_detected!("avx512f"),
            avx512bw: std::arch::is_x86_feature_detected!("avx512bw"),
            avx512vnni: std::arch::is_x86_feature_detected!("avx512vnni"),
            avxvnni: std::arch::is_x86_feature_detected!("avxvnni"),
        };
        #[cfg(not(target_arch = "x86_64"))]
        Self::default()
    }
}

/// The matrix kernel `native-i8`'s dense layers run with (`packed::gemv_i8_acc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Kernel {
    /// `vpdpbusd` on 512-bit registers.
    Avx512Vnni,
    /// `vpdpbusd` on 256-bit registers.
    AvxVnni,
    /// Weights widened to 16 bits, `vpmaddwd` (AVX2 CPUs without VNNI, AVX-512 ones included).
    Avx2,
    /// Plain integer Rust, auto-vectorised for the baseline target: slower than the `f32` engine on
    /// x86-64 without AVX2 (docs/native_i8.md); not measured on other architectures.
    Portable,
}

impl Int8Kernel {
    /// The instruction set in the words of CPU data sheets.
    pub fn label(self) -> &'static str {
        match self {
            Self::Avx512Vnni => "AVX512-VNNI",
            Self::AvxVnni => "AVX-VNNI",
            Self::Avx2 => "AVX2",
            Self::Portable => "portable",
        }
    }
}

impl Isa {
    /// The best level this CPU supports.
    pub fn detect() -> Self {
        Self::select(CpuFeatures::detect())
    }

    /// The best level a CPU with `f` supports. Only [`Isa::detect`] may hand such an [`Isa`] to a
    /// kernel (one from made-up features would make the kernels' `unsafe` calls unsound); elsewhere it
    /// only answers which kernel a CPU would get ([`super::int8_kernel_for`]).
    pub(super) fn select(f: CpuFeatures) -> Self {
        // F16C (half-float loads of `packed::gemv_acc`) came with the first AVX2 CPUs. The AVX-512 level
        // needs BW too (the int8 convolutions' tile without VNNI uses it), which leaves out only the
        // Xeon Phi CPUs: they get the AVX2 level.
        if cfg!(target_arch = "x86_64") && f.avx2 && f.fma && f.f16c {
            #[cfg(target_arch = "x86_64")]
            return if f.avx512f && f.avx512bw {
                Self(Level::Avx512, f.avx512vnni)
            } else {
                Self(Level::Avx2Fma, f.avxvnni)
            };
        }
        Self(Level::Baseline, false)
    }

    /// The 8-bit kernel this level runs; [`packed::gemv_i8_acc`](super::packed) dispatches on it.
    #[inline]
    pub fn int8_kernel(self) -> Int8Kernel {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self(Level::Avx512, true) => Int8Kernel::Avx512Vnni,
            #[cfg(target_arch = "x86_64")]
            Self(Level::Avx2Fma, true) => Int8Kernel::AvxVnni,
            // Without VNNI the 256-bit kernel is the faster one on AVX-512 CPUs too.
            #[cfg(target_arch = "x86_64")]
            Self(Level::Avx512 | Level::Avx2Fma, false) => Int8Kernel::Avx2,
            Self(Level::Baseline, _) => Int8Kernel::Portable,
        }
    }

    /// AVX2 + FMA if the CPU has it (to compare levels in tests), with AVX-VNNI if the CPU has that,
    /// else the baseline.
    #[cfg(test)]
    pub fn avx2_or_baseline() -> Self {
        match Self::detect().0 {
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => Self(
                Level::Avx2Fma,
                std::arch::is_x86_feature_detected!("avxvnni"),
            ),
            _ => Self::detect(),
        }
    }

    /// The portable level (for tests comparing the two).
    #[cfg(test)]
    pub fn baseline() -> Self {
        Self(Level::Baseline, false)
    }

    /// The same level without the VNNI instructions (for tests of the kernels CPUs without them run).
    #[cfg(test)]
    pub fn without_vnni(self) -> Self {
        Self(self.0, false)
    }

    /// Every level and VNNI combination this CPU can run, best first, each once (for tests).
    #[cfg(test)]
    pub fn all_available() -> Vec<Self> {
        let mut all = Vec::new();
        for isa in [Self::detect(), Self::avx2_or_baseline(), Self::baseline()] {
            for v in [isa, isa.without_vnni()] {
                if !all.contains(&v) {
                    all.push(v);
                }
            }
        }
        all
    }
}

/// Defines `pub fn name(isa: Isa, args..)` from a body generic over `const FMA: bool` (hardware FMA)
/// and optionally `const WIDE: bool` (512-bit registers), compiled for the baseline and, on x86_64, for
/// AVX2 + FMA and for AVX-512. Helpers called from the body must be `#[inline(always)]` so they are
/// compiled with the enabled features too.
macro_rules! kernel {
    ($(#[$doc:meta])* pub fn $name:ident<$fma:ident>($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        kernel! { $(#[$doc])* pub fn $name<$fma, _WIDE>($($arg: $ty),*) $body }
    };
    ($(#[$doc:meta])* pub fn $name:ident<$fma:ident, $wide:ident>($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)] // the kernels take plain slices, grouped by their call sites
        pub fn $name(isa: Isa, $($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn imp<const $fma: bool, const $wide: bool>($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            fn avx2($($arg: $ty),*) {
                imp::<true, false>($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            fn avx512($($arg: $ty),*) {
                imp::<true, true>($($arg),*)
            }
            use $crate::backend::native::simd::{Level, BASELINE_FMA};
            match isa.0 {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Level::Avx2Fma` is only built by `Isa::detect` after the CPU reported AVX2 and FMA.
                Level::Avx2Fma => unsafe { avx2($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Level::Avx512` is only built by `Isa::detect` after the CPU reported AVX-512F,
                // AVX2 and FMA.
                Level::Avx512 => unsafe { avx512($($arg),*) },
                Level::Baseline => imp::<BASELINE_FMA, false>($($arg),*),
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

#[inline(always)]
pub(super) fn dot<const FMA: bool>(w: &[f32], x: &[f32]) -> f32 {
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

    #[test]
    fn transposed_gemv_and_rmsnorm_match_naive() {
        for isa in [Isa::detect(), Isa::avx2_or_baseline(), Isa::baseline()] {
            let (rows, cols) = (33, 16);
            let w: Vec<f32> = (0..rows * cols)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let wt: Vec<f32> = (0..cols * rows)
                .map(|k| w[(k % rows) * cols + k / rows])
                .collect();
            let x: Vec<f32> = (0..cols).map(|i| (i as f32 - 7.5) / 8.0).collect();
            let mut y = vec![0.25; rows];
            gemv_t_acc(isa, &wt, &x, &mut y);
            for (r, got) in y.iter().enumerate() {
                let want: f64 = 0.25
                    + (0..cols)
                        .map(|c| w[r * cols + c] as f64 * x[c] as f64)
                        .sum::<f64>();
                assert!((*got as f64 - want).abs() < 1e-5);
            }
            let mut v: Vec<f32> = (0..37).map(|i| i as f32 - 18.0).collect();
            let g: Vec<f32> = (0..37).map(|i| 1.0 + i as f32 / 37.0).collect();
            let ms = v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>() / 37.0;
            let want: Vec<f64> = v
                .iter()
                .zip(&g)
                .map(|(a, b)| *a as f64 / (ms + 1e-5).sqrt() * *b as f64)
                .collect();
            rmsnorm_inplace(isa, &mut v, &g, 1e-5);
            for (a, b) in v.iter().zip(want) {
                assert!((*a as f64 - b).abs() < 1e-6 * (1.0 + b.abs()));
            }
        }
    }
}
