//! Latency history of one backend: a fixed-capacity ring of `(time, latency)` samples taken at each
//! repaint. The storage is allocated once, when the window opens; pushing overwrites the oldest sample,
//! and the plot walks the ring in place, oldest first, without copying it.

/// One point of the history: when it was sampled and what the latency was then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Time of the sample, in seconds on the UI clock (`egui::InputState::time`).
    pub time_s: f64,
    /// Per-hop compute time at that moment, in milliseconds.
    pub frame_ms: f32,
}

/// Ring buffer of the most recent [`Sample`]s.
#[derive(Debug, Clone)]
pub struct History {
    samples: Vec<Sample>,
    /// Index the next push writes to.
    next: usize,
    /// Number of valid samples (saturates at the capacity).
    len: usize,
}

impl History {
    /// An empty history holding at most `capacity` samples (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            samples: vec![
                Sample {
                    time_s: 0.0,
                    frame_ms: 0.0
                };
                capacity
            ],
            next: 0,
            len: 0,
        }
    }

    /// Largest number of samples kept.
    pub fn capacity(&self) -> usize {
        self.samples.len()
    }

    /// Number of samples currently kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been pushed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a sample, dropping the oldest one when full. Never allocates.
    pub fn push(&mut self, sample: Sample) {
        self.samples[self.next] = sample;
        self.next = (self.next + 1) % self.samples.len();
        self.len = (self.len + 1).min(self.samples.len());
    }

    /// The most recent sample, if any.
    pub fn last(&self) -> Option<Sample> {
        (self.len > 0).then(|| {
            let cap = self.samples.len();
            self.samples[(self.next + cap - 1) % cap]
        })
    }

    /// The kept samples, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = Sample> + '_ {
        let cap = self.samples.len();
        let start = (self.next + cap - self.len) % cap;
        (0..self.len).map(move |i| self.samples[(start + i) % cap])
    }

    /// Largest latency among the kept samples (0 when empty).
    pub fn max_frame_ms(&self) -> f32 {
        self.iter().map(|s| s.frame_ms).fold(0.0, f32::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: usize) -> Sample {
        Sample {
            time_s: i as f64,
            frame_ms: i as f32 * 0.5,
        }
    }

    #[test]
    fn keeps_the_newest_samples_in_order() {
        let mut h = History::with_capacity(4);
        assert!(h.is_empty());
        assert_eq!(h.last(), None);
        for i in 0..3 {
            h.push(sample(i));
        }
        assert_eq!(h.len(), 3);
        assert_eq!(h.iter().collect::<Vec<_>>(), [0, 1, 2].map(sample));
        for i in 3..10 {
            h.push(sample(i));
        }
        assert_eq!(h.len(), 4);
        assert_eq!(h.capacity(), 4);
        assert_eq!(h.iter().collect::<Vec<_>>(), [6, 7, 8, 9].map(sample));
        assert_eq!(h.last(), Some(sample(9)));
        assert_eq!(h.max_frame_ms(), 4.5);
    }

    #[test]
    fn zero_capacity_still_holds_one_sample() {
        let mut h = History::with_capacity(0);
        h.push(sample(1));
        h.push(sample(2));
        assert_eq!(h.iter().collect::<Vec<_>>(), [sample(2)]);
    }
}
