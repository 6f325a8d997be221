//! Branch-free `exp` and the activations built on it (sigmoid, SiLU, softplus, tanh), written so loops
//! over them auto-vectorise. The Mamba scan evaluates `exp(dt·A)` for every channel and state each frame
//! (32 k values), which costs more than all matrix products when done with scalar `libm` calls.
//!
//! Accuracy: `exp` is within 2 ulp of the correctly rounded value on [-87, 88] (Cephes-style range
//! reduction and degree-6 polynomial); inputs beyond are clamped, which only changes results that
//! underflow below `1.7e-38` or overflow the activations' saturation anyway.
use super::simd::fmadd;

/// `2^n` range reduction constant: adding `1.5·2²³` rounds a float to an integer held in the low
/// mantissa bits, with the FPU's round-to-nearest and no float→int conversion.
const SHIFTER: f32 = 12_582_912.0;
/// ln 2 split so that `n · LN2_HI` is exact for the exponents that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// `exp` input range whose results are normal, finite `f32`.
const EXP_MIN: f32 = -87.0;
const EXP_MAX: f32 = 88.0;

/// `eˣ` (inputs clamped to [-87, 88]).
#[inline(always)]
pub fn exp<const FMA: bool>(x: f32) -> f32 {
    let x = if x < EXP_MIN { EXP_MIN } else { x };
    let x = if x > EXP_MAX { EXP_MAX } else { x };
    let t = fmadd::<FMA>(x, std::f32::consts::LOG2_E, SHIFTER);
    let n = t - SHIFTER;
    let r = fmadd::<FMA>(n, -LN2_HI, x);
    let r = fmadd::<FMA>(n, -LN2_LO, r);
    let mut p = 1.987_569_1e-4;
    p = fmadd::<FMA>(p, r, 1.398_199_9e-3);
    p = fmadd::<FMA>(p, r, 8.333_452e-3);
    p = fmadd::<FMA>(p, r, 4.166_579_6e-2);
    p = fmadd::<FMA>(p, r, 1.666_666_5e-1);
    p = fmadd::<FMA>(p, r, 0.5);
    let y = fmadd::<FMA>(p, r * r, r) + 1.0;
    // n + 127 placed in the exponent field: the integer n sits in t's low mantissa bits.
    let scale_bits = t
        .to_bits()
        .wrapping_sub(SHIFTER.to_bits())
        .wrapping_add(127)
        << 23;
    y * f32::from_bits(scale_bits)
}

/// `ln(1 + u)` for `u` in [0, 1], via `2·atanh(u / (2 + u))`: no cancellation for small `u`, and the
/// series in `s² ≤ 1/9` converges to below 2e-9 relative after eight terms.
#[inline(always)]
fn ln1p_unit<const FMA: bool>(u: f32) -> f32 {
    let s = u / (2.0 + u);
    let s2 = s * s;
    let mut p = 1.0 / 15.0;
    p = fmadd::<FMA>(p, s2, 1.0 / 13.0);
    p = fmadd::<FMA>(p, s2, 1.0 / 11.0);
    p = fmadd::<FMA>(p, s2, 1.0 / 9.0);
    p = fmadd::<FMA>(p, s2, 1.0 / 7.0);
    p = fmadd::<FMA>(p, s2, 1.0 / 5.0);
    p = fmadd::<FMA>(p, s2, 1.0 / 3.0);
    p = fmadd::<FMA>(p, s2, 1.0);
    2.0 * s * p
}

/// `1 / (1 + e⁻ˣ)`.
#[inline(always)]
pub fn sigmoid<const FMA: bool>(x: f32) -> f32 {
    1.0 / (1.0 + exp::<FMA>(-x))
}

/// `x · sigmoid(x)`.
#[inline(always)]
pub fn silu<const FMA: bool>(x: f32) -> f32 {
    x / (1.0 + exp::<FMA>(-x))
}

/// `ln(1 + eˣ)`, evaluated as `max(x, 0) + ln(1 + e^-|x|)` so it never overflows.
#[inline(always)]
pub fn softplus<const FMA: bool>(x: f32) -> f32 {
    let pos = if x > 0.0 { x } else { 0.0 };
    pos + ln1p_unit::<FMA>(exp::<FMA>(-x.abs()))
}

/// `tanh(x) = 1 − 2 / (e²ˣ + 1)`; always within [-1, 1].
#[inline(always)]
pub fn tanh<const FMA: bool>(x: f32) -> f32 {
    1.0 - 2.0 / (exp::<FMA>(2.0 * x) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f32> {
        (-40_000..=40_000).map(|i| i as f32 * 2.1e-3)
    }

    fn check(name: &str, f: impl Fn(f32) -> f32, want: impl Fn(f64) -> f64, rel: f64, abs: f64) {
        for x in grid() {
            let got = f(x) as f64;
            let w = want(x as f64);
            assert!(
                (got - w).abs() <= rel * w.abs() + abs,
                "{name}({x}) = {got}, want {w}"
            );
        }
    }

    #[test]
    fn exp_is_accurate_and_saturates_finitely() {
        for fma in [false, true] {
            let f = |x: f32| if fma { exp::<true>(x) } else { exp::<false>(x) };
            check("exp", f, f64::exp, 3e-7, 0.0);
            assert!(f(-1e4) > 0.0 && f(-1e4) < 1e-37);
            assert!(f(1e4).is_finite() && f(1e4) > 1e38);
            assert_eq!(f(0.0), 1.0);
        }
    }

    #[test]
    fn activations_match_f64_references() {
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        check("sigmoid", sigmoid::<true>, sig, 3e-7, 1e-30);
        check("silu", silu::<true>, |x| x * sig(x), 4e-7, 1e-30);
        check(
            "softplus",
            softplus::<true>,
            |x| x.exp().ln_1p(),
            4e-7,
            1e-30,
        );
        check("tanh", tanh::<true>, f64::tanh, 0.0, 2e-7);
        check(
            "softplus",
            softplus::<false>,
            |x| x.exp().ln_1p(),
            4e-7,
            1e-30,
        );
        for x in [-1e4f32, -50.0, 50.0, 1e4] {
            assert!(tanh::<true>(x).abs() <= 1.0);
            assert!((0.0..=1.0).contains(&sigmoid::<true>(x)));
            assert!(softplus::<true>(x).is_finite());
        }
    }
}
