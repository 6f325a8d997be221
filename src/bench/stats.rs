//! Summary statistics of timed runs: median, mean, standard deviation, extremes and tail percentiles.
//! Percentiles interpolate linearly between the closest ranks (the common "type 7" definition, as in
//! numpy's default), so the median of an even count is the mean of the two middle values.
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Statistics of a set of durations, all in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of timed samples.
    pub samples: usize,
    /// Median.
    pub median: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator; 0 for one sample).
    pub std: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile (the tail that matters for real-time deadlines).
    pub p99: f64,
}

impl Stats {
    /// Statistics of `values`; fails on an empty set or a non-finite value.
    pub fn from_values(values: &[f64]) -> Result<Self> {
        if values.is_empty() {
            return Err(Error::InvalidInput("no samples to summarise".into()));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidInput("non-finite timing sample".into()));
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Ok(Self {
            samples: n,
            median: percentile_sorted(&sorted, 50.0),
            mean,
            std,
            min: sorted[0],
            max: sorted[n - 1],
            p95: percentile_sorted(&sorted, 95.0),
            p99: percentile_sorted(&sorted, 99.0),
        })
    }
}

/// The `pct`-th percentile (0–100) of ascending `sorted` values, interpolating between closest ranks.
pub fn percentile_sorted(sorted: &[f64], pct: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]));
    let pos = (pct.clamp(0.0, 100.0) / 100.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(Stats::from_values(&[3.0, 1.0, 2.0]).unwrap().median, 2.0);
        assert_eq!(
            Stats::from_values(&[4.0, 1.0, 3.0, 2.0]).unwrap().median,
            2.5
        );
        assert_eq!(Stats::from_values(&[7.0]).unwrap().median, 7.0);
    }

    #[test]
    fn percentiles_of_one_to_hundred() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Stats::from_values(&v).unwrap();
        // Position 0.95 · 99 = 94.05 → between 95 and 96.
        assert!(close(s.p95, 95.05), "{}", s.p95);
        assert!(close(s.p99, 99.01), "{}", s.p99);
        assert!(close(s.median, 50.5));
        assert_eq!((s.min, s.max, s.samples), (1.0, 100.0, 100));
        assert!(close(s.mean, 50.5));
    }

    #[test]
    fn p95_of_twenty_values_interpolates() {
        // 0, 10, ..., 190: position 0.95 · 19 = 18.05 → 180 + 0.05 · 10.
        let v: Vec<f64> = (0..20).rev().map(|i| f64::from(i) * 10.0).collect();
        assert!(close(Stats::from_values(&v).unwrap().p95, 180.5));
    }

    #[test]
    fn std_is_the_sample_standard_deviation() {
        let s = Stats::from_values(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert!(close(s.mean, 5.0));
        assert!(close(s.std, (32.0f64 / 7.0).sqrt()), "{}", s.std);
        assert_eq!(Stats::from_values(&[3.0]).unwrap().std, 0.0);
    }

    #[test]
    fn order_invariants_hold() {
        let v = [0.31, 0.29, 0.5, 0.3, 0.28, 1.7, 0.3];
        let s = Stats::from_values(&v).unwrap();
        assert!(s.min <= s.median && s.median <= s.p95 && s.p95 <= s.p99 && s.p99 <= s.max);
    }

    #[test]
    fn rejects_empty_and_non_finite() {
        assert!(Stats::from_values(&[]).is_err());
        assert!(Stats::from_values(&[1.0, f64::NAN]).is_err());
        assert!(Stats::from_values(&[f64::INFINITY]).is_err());
    }
}
