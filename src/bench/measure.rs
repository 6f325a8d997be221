//! The timing loops: warm-up iterations are run and discarded, then every timed iteration is measured
//! with a monotonic clock around the work *and* the backend's `sync`, so asynchronous devices are charged
//! for what they queued. Memory is sampled around each whole configuration. Inputs are real features of
//! a deterministic test signal, so the network sees speech-like magnitudes rather than zeros.
use std::time::Instant;

use super::engine::{BenchHooks, FrameWorkload, Workload};
use super::report::Memory;
pub use super::system::read_rss;
use super::system::{reset_peak_rss, Rss};
use crate::backend::AnyBackend;
use crate::backend::SeqFeatures;
use crate::config::{ModelConfig, HOP_SIZE};
use crate::dsp::features::analyze_signal;
use crate::Result;

/// Seconds → milliseconds.
fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// Times `runs` iterations of `work` (after `warmup` untimed ones); milliseconds per iteration.
pub fn time_batch(
    backend: &AnyBackend,
    work: &mut dyn Workload,
    warmup: usize,
    runs: usize,
) -> Result<Vec<f64>> {
    for _ in 0..warmup {
        work.run()?;
        backend.sync()?;
    }
    let mut times_ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        work.run()?;
        backend.sync()?;
        times_ms.push(ms(start));
    }
    Ok(times_ms)
}

/// Times every hop of `runs` runs of `work.frames()` hops each, from a fresh stream per run, after
/// `warmup` untimed runs; milliseconds per hop (a frame that is a block of hops counts once, its time
/// divided by its hops).
pub fn time_frames(
    backend: &AnyBackend,
    work: &mut dyn FrameWorkload,
    warmup: usize,
    runs: usize,
) -> Result<Vec<f64>> {
    let frames = work.frames();
    for _ in 0..warmup {
        work.reset();
        for t in 0..frames {
            work.frame(t)?;
        }
        backend.sync()?;
    }
    let mut times_ms = Vec::with_capacity(runs * frames);
    for _ in 0..runs {
        work.reset();
        for t in 0..frames {
            let start = Instant::now();
            work.frame(t)?;
            backend.sync()?;
            times_ms.push(ms(start) / work.hops_of(t) as f64);
        }
    }
    Ok(times_ms)
}

/// Runs `f`, which returns its value and the RSS read while it still held its buffers
/// ([`read_rss`]), and reports the resident memory it added (None where `/proc` is unavailable).
pub fn with_memory<T>(f: impl FnOnce() -> Result<(T, Option<Rss>)>) -> Result<(T, Option<Memory>)> {
    let peak_reset = reset_peak_rss();
    let before = read_rss();
    let (value, after) = f()?;
    let memory = match (before, after) {
        (Some(b), Some(a)) => Some(Memory {
            rss_before_kib: b.current_kib,
            rss_after_kib: a.current_kib,
            peak_rss_kib: a.peak_kib,
            peak_delta_kib: a.peak_kib.saturating_sub(b.current_kib),
            peak_reset,
        }),
        _ => None,
    };
    Ok((value, memory))
}

/// A deterministic speech-band test signal of `samples` samples at 48 kHz: a few drifting partials with
/// a syllable-rate envelope plus low-level noise. `seed` varies the frequencies and the noise per stream.
pub fn test_signal(samples: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let f0_hz = 110.0 + 17.0 * (seed % 11) as f32;
    let tau = std::f32::consts::TAU;
    (0..samples)
        .map(|i| {
            let t = i as f32 / 48_000.0;
            // xorshift64: cheap, reproducible noise.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.05;
            let envelope = 0.5 + 0.5 * (tau * 4.0 * t).sin();
            let voiced: f32 = (1..=6)
                .map(|k| (tau * f0_hz * k as f32 * t).sin() / k as f32)
                .sum();
            0.2 * envelope * voiced + noise
        })
        .collect()
}

/// Model features of `batch` different test signals of `frames` frames each, `[B, T, ..]`.
pub fn test_features(cfg: &ModelConfig, batch: usize, frames: usize) -> SeqFeatures {
    let mut feats = SeqFeatures::zeros(cfg, batch, frames);
    let (ne, ns) = (frames * cfg.nb_erb, frames * 2 * cfg.nb_df);
    for b in 0..batch {
        let sig = analyze_signal(&test_signal(frames * HOP_SIZE, b as u64 + 1));
        debug_assert_eq!(sig.frames, frames);
        feats.erb[b * ne..(b + 1) * ne].copy_from_slice(&sig.erb);
        feats.spec[b * ns..(b + 1) * ns].copy_from_slice(&sig.cplx);
    }
    feats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_signal_is_bounded_deterministic_and_seed_dependent() {
        let a = test_signal(4800, 1);
        assert_eq!(a, test_signal(4800, 1));
        assert_ne!(a, test_signal(4800, 2));
        assert!(a.iter().all(|x| x.is_finite() && x.abs() < 1.0));
        assert!(a.iter().map(|x| x * x).sum::<f32>() > 0.0);
    }

    #[test]
    fn features_have_the_sequence_layout() {
        let cfg = ModelConfig::default();
        let f = test_features(&cfg, 2, 7);
        assert_eq!((f.batch, f.frames), (2, 7));
        assert_eq!(f.erb.len(), 2 * 7 * cfg.nb_erb);
        assert_eq!(f.spec.len(), 2 * 7 * 2 * cfg.nb_df);
        assert!(f.erb.iter().chain(&f.spec).all(|x| x.is_finite()));
        // Different streams got different signals.
        assert_ne!(f.erb[..7 * cfg.nb_erb], f.erb[7 * cfg.nb_erb..]);
    }
}
