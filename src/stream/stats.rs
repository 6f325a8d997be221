//! Per-hop compute time statistics for a worker: a sliding window (about one second) for the live
//! median / p99 meters, and a fixed-resolution histogram for the whole-run summary. Everything is
//! allocated up front; recording a hop never allocates.
use std::time::Duration;

/// Hops in the sliding window (100 hops = 1 s of audio).
pub const WINDOW_HOPS: usize = 100;
/// Default histogram resolution: one bin per microsecond.
const BIN_US: f64 = 1.0;
/// Default histogram range: values above it land in the last bin (their exact maximum is kept).
const HIST_MAX_MS: f64 = 100.0;

/// Median, 99th percentile, maximum and mean of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DurationStats {
    /// Median, ms.
    pub median_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest value, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Number of values.
    pub count: u64,
}

/// Compute times of the hops of one worker.
#[derive(Debug)]
pub struct FrameTimes {
    window_ms: [f32; WINDOW_HOPS],
    scratch_ms: [f32; WINDOW_HOPS],
    pos: usize,
    filled: usize,
    hist: Vec<u32>,
    bin_us: f64,
    count: u64,
    sum_ms: f64,
    max_ms: f64,
}

impl Default for FrameTimes {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameTimes {
    /// Empty statistics for compute times: 1 µs resolution up to 100 ms.
    pub fn new() -> Self {
        Self::with_range(HIST_MAX_MS, BIN_US)
    }

    /// Empty statistics whose run histogram has `bin_us` resolution up to `max_ms`.
    pub fn with_range(max_ms: f64, bin_us: f64) -> Self {
        let bins = (max_ms * 1000.0 / bin_us) as usize + 1;
        Self {
            window_ms: [0.0; WINDOW_HOPS],
            scratch_ms: [0.0; WINDOW_HOPS],
            pos: 0,
            filled: 0,
            hist: vec![0; bins],
            bin_us,
            count: 0,
            sum_ms: 0.0,
            max_ms: 0.0,
        }
    }

    /// Records the compute time of one hop.
    pub fn record(&mut self, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        self.window_ms[self.pos] = ms as f32;
        self.pos = (self.pos + 1) % WINDOW_HOPS;
        self.filled = (self.filled + 1).min(WINDOW_HOPS);
        let bin = ((ms * 1000.0 / self.bin_us) as usize).min(self.hist.len() - 1);
        self.hist[bin] += 1;
        self.count += 1;
        self.sum_ms += ms;
        self.max_ms = self.max_ms.max(ms);
    }

    /// Median, p99 and mean over the sliding window (max is over the whole run).
    pub fn window(&mut self) -> DurationStats {
        let n = self.filled;
        if n == 0 {
            return DurationStats::default();
        }
        let values = &mut self.scratch_ms[..n];
        values.copy_from_slice(&self.window_ms[..n]);
        values.sort_unstable_by(f32::total_cmp);
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        DurationStats {
            median_ms: f64::from(values[(n - 1) / 2]),
            p99_ms: f64::from(values[nearest_rank(n, 0.99)]),
            max_ms: self.max_ms,
            mean_ms: mean,
            count: n as u64,
        }
    }

    /// Statistics over every hop of the run (percentiles at the histogram's 1 µs resolution).
    pub fn run(&self) -> DurationStats {
        if self.count == 0 {
            return DurationStats::default();
        }
        let quantile = |q: f64| -> f64 {
            let rank = nearest_rank(self.count as usize, q) as u64;
            let mut seen = 0u64;
            for (bin, &c) in self.hist.iter().enumerate() {
                seen += u64::from(c);
                if seen > rank {
                    // The bin's centre; the top bin is open-ended, so report the true maximum there.
                    return if bin == self.hist.len() - 1 {
                        self.max_ms
                    } else {
                        (bin as f64 + 0.5) * self.bin_us / 1000.0
                    };
                }
            }
            self.max_ms
        };
        DurationStats {
            median_ms: quantile(0.5),
            p99_ms: quantile(0.99),
            max_ms: self.max_ms,
            mean_ms: self.sum_ms / self.count as f64,
            count: self.count,
        }
    }
}

/// Zero-based index of the `q` quantile among `n` sorted values (nearest-rank method).
fn nearest_rank(n: usize, q: f64) -> usize {
    ((q * n as f64).ceil() as usize).clamp(1, n) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_and_run_statistics_agree_on_a_known_set() {
        let mut t = FrameTimes::new();
        // 1..=100 µs ... as 0.01 ms steps: 0.01, 0.02, ..., 1.00 ms.
        for i in 1..=100u64 {
            t.record(Duration::from_micros(i * 10));
        }
        let w = t.window();
        assert!((w.median_ms - 0.50).abs() < 1e-6, "{w:?}");
        assert!((w.p99_ms - 0.99).abs() < 1e-6, "{w:?}");
        assert!((w.max_ms - 1.00).abs() < 1e-9, "{w:?}");
        assert!((w.mean_ms - 0.505).abs() < 1e-6, "{w:?}");
        let r = t.run();
        assert_eq!(r.count, 100);
        assert!((r.median_ms - 0.50).abs() < 0.001, "{r:?}");
        assert!((r.p99_ms - 0.99).abs() < 0.001, "{r:?}");
        assert!((r.mean_ms - 0.505).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn window_slides_and_outliers_keep_their_value() {
        let mut t = FrameTimes::new();
        t.record(Duration::from_millis(250));
        for _ in 0..WINDOW_HOPS {
            t.record(Duration::from_micros(200));
        }
        let w = t.window();
        assert!(
            (w.p99_ms - 0.2).abs() < 1e-6,
            "the outlier left the window: {w:?}"
        );
        assert!((w.max_ms - 250.0).abs() < 1e-9);
        assert!((t.run().max_ms - 250.0).abs() < 1e-9);
        assert_eq!(FrameTimes::new().run(), DurationStats::default());
    }
}
