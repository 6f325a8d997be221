//! A memoryless soft clipper for output that would go beyond full scale: the identity up to a knee at
//! −1 dBFS, then a tanh curve that approaches full scale without reaching it, continuous in value and
//! slope at the knee. It changes nothing in audio that peaks below −1 dBFS, and instead of the flat tops
//! of hard clipping it rounds the peaks off (an opt-in of `dfn4 enhance --soft-clip`).

/// Where the curve starts: −1 dBFS (10^(−1/20)).
pub const KNEE: f32 = 0.891_250_94;

/// `x` unchanged up to the knee, bent towards ±1 above it; |output| < 1 for every finite input.
pub fn soft_clip(x: f32) -> f32 {
    let a = x.abs();
    if a <= KNEE {
        return x;
    }
    let room = 1.0 - KNEE;
    (KNEE + room * ((a - KNEE) / room).tanh()).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_below_the_knee_bounded_and_monotonic_above() {
        for i in -1000..=1000 {
            let x = i as f32 * KNEE / 1000.0;
            assert_eq!(soft_clip(x), x);
        }
        let mut last = soft_clip(KNEE);
        for i in 1..2000 {
            let x = KNEE + i as f32 * 0.005;
            let y = soft_clip(x);
            assert!(y >= last && y < 1.0 + f32::EPSILON, "{x} -> {y}");
            assert_eq!(soft_clip(-x), -y);
            last = y;
        }
        // Continuous slope at the knee: a small step above it moves the output by almost as much.
        let step = 1e-3;
        assert!((soft_clip(KNEE + step) - KNEE - step).abs() < 1e-5);
        assert!(soft_clip(f32::MAX) <= 1.0);
    }
}
