//! The one rule for samples a real-time path cannot refuse: a NaN or infinite sample becomes 0 and a
//! finite one is clamped to ±[`MAX_SAMPLE_AMPLITUDE`], so nothing that is not audio ever reaches the
//! STFT or the model, and every change is counted. Offline paths refuse such input instead
//! ([`crate::enhance::check_samples`]); a host's audio thread (plugin, live worker, GStreamer, C API) can
//! only repair it and carry on. No allocation, lock or logging: safe in an audio callback.

/// The largest sample magnitude taken as audio: 60 dB above full scale. Float WAVs and arrays may
/// exceed ±1 a little; far beyond, the STFT's powers overflow `f32` (from about 1e17) and the output
/// would be NaN. Offline input beyond it is refused; real-time input is clamped to it.
pub const MAX_SAMPLE_AMPLITUDE: f32 = 1000.0;

/// Counts of what [`InputGuard::sanitize`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SanitizeCounts {
    /// NaN or ±Inf samples replaced by 0.
    pub non_finite: u64,
    /// Finite samples beyond ±[`MAX_SAMPLE_AMPLITUDE`] clamped to it.
    pub clamped: u64,
}

impl SanitizeCounts {
    /// Every sample changed.
    pub fn total(&self) -> u64 {
        self.non_finite + self.clamped
    }
}

/// The sample a real-time path passes on for `x`: 0 for NaN/±Inf, else `x` clamped to
/// ±[`MAX_SAMPLE_AMPLITUDE`].
#[inline]
pub fn sanitize_sample(x: f32) -> f32 {
    if x.is_finite() {
        x.clamp(-MAX_SAMPLE_AMPLITUDE, MAX_SAMPLE_AMPLITUDE)
    } else {
        0.0
    }
}

/// Repairs blocks in place and keeps the counts (a host reads them between blocks).
#[derive(Debug, Clone, Default)]
pub struct InputGuard {
    counts: SanitizeCounts,
}

impl InputGuard {
    /// A guard with zero counts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces non-finite samples of `block` by 0 and clamps the rest to ±[`MAX_SAMPLE_AMPLITUDE`];
    /// returns whether anything changed. The common case (all audio) is one read-only pass.
    #[inline]
    pub fn sanitize(&mut self, block: &mut [f32]) -> bool {
        if block.iter().all(|x| x.abs() <= MAX_SAMPLE_AMPLITUDE) {
            // `abs() <= bound` is false for NaN and ±Inf, so this is the whole check.
            return false;
        }
        for x in block.iter_mut() {
            if !x.is_finite() {
                *x = 0.0;
                self.counts.non_finite += 1;
            } else if x.abs() > MAX_SAMPLE_AMPLITUDE {
                *x = x.clamp(-MAX_SAMPLE_AMPLITUDE, MAX_SAMPLE_AMPLITUDE);
                self.counts.clamped += 1;
            }
        }
        true
    }

    /// What was changed since construction.
    pub fn counts(&self) -> SanitizeCounts {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_become_zero_and_loud_samples_are_clamped_and_counted() {
        let mut guard = InputGuard::new();
        let mut clean = [0.0, 0.5, -1.0, MAX_SAMPLE_AMPLITUDE, -MAX_SAMPLE_AMPLITUDE];
        let before = clean;
        assert!(!guard.sanitize(&mut clean));
        assert_eq!(clean, before);
        let mut block = [
            f32::NAN,
            0.25,
            f32::INFINITY,
            1e10,
            f32::NEG_INFINITY,
            -2000.0,
        ];
        assert!(guard.sanitize(&mut block));
        assert_eq!(
            block,
            [
                0.0,
                0.25,
                0.0,
                MAX_SAMPLE_AMPLITUDE,
                0.0,
                -MAX_SAMPLE_AMPLITUDE
            ]
        );
        assert_eq!(
            guard.counts(),
            SanitizeCounts {
                non_finite: 3,
                clamped: 2
            }
        );
        assert_eq!(guard.counts().total(), 5);
        for x in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30, 0.3] {
            let y = sanitize_sample(x);
            assert!(
                y.is_finite() && y.abs() <= MAX_SAMPLE_AMPLITUDE,
                "{x} → {y}"
            );
        }
        assert_eq!(sanitize_sample(0.3), 0.3);
    }
}
