//! Timestamps that cross from the audio callbacks to the worker threads: a pair (time, sample count)
//! published by a callback and read consistently by a worker. A sequence lock over atomics: the writer
//! (the callback) never waits, the reader (a worker) retries in the rare case it raced a write.
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::time::Instant;

/// A (time in ns since the pipeline's epoch, sample count) pair with one writer and any readers.
#[derive(Debug, Default)]
pub struct ClockMark {
    seq: AtomicU64,
    time_ns: AtomicU64,
    samples: AtomicU64,
}

impl ClockMark {
    /// A mark that has never been written.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes a new pair. Only one thread may write a given mark.
    pub fn write(&self, time_ns: u64, samples: u64) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd sequence number before the data: a reader that sees new data sees it odd.
        fence(Ordering::Release);
        self.time_ns.store(time_ns, Ordering::Relaxed);
        self.samples.store(samples, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// The latest pair, or `None` before the first write.
    pub fn read(&self) -> Option<(u64, u64)> {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 == 0 {
                return None;
            }
            if !s1.is_multiple_of(2) {
                std::hint::spin_loop();
                continue;
            }
            let time_ns = self.time_ns.load(Ordering::Relaxed);
            let samples = self.samples.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return Some((time_ns, samples));
            }
        }
    }
}

/// Nanoseconds from `epoch` to now (saturating; a clock read, no allocation or system lock).
pub fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn readers_never_see_a_torn_pair() {
        let mark = Arc::new(ClockMark::new());
        assert_eq!(mark.read(), None);
        let writer = {
            let mark = Arc::clone(&mark);
            std::thread::spawn(move || {
                for i in 1..=200_000u64 {
                    mark.write(i * 3, i);
                }
            })
        };
        let mut last = 0;
        while last < 200_000 {
            if let Some((t, n)) = mark.read() {
                assert_eq!(t, n * 3, "torn read");
                assert!(n >= last, "went back in time");
                last = n;
            }
        }
        writer.join().unwrap();
    }
}
