//! Brings the output latency back to its target after a stall.
//!
//! The output callback starts playing once the active ring holds the prefill. From then on the ring
//! level only rises above that if something stalled: a worker that ran late and then pushed several
//! hops at once, or an underrun (silence was played, and the samples that should have been played are
//! still queued). Input and output run on the same clock, so nothing would ever drain that extra
//! delay: each stall would add its length to the latency for the rest of the run. [`LatencyTrim`]
//! watches the lowest level the ring holds when a piece is about to be played, over a window; a low
//! point well above the prefill means that margin was never needed, and the excess is skipped (the
//! caller cross-fades over the cut).
//! Using the low point of a window, not the current level, keeps the ordinary saw-tooth of hop-sized
//! pushes and block-sized pops from triggering it.

/// Decides when queued output samples are surplus; plain arithmetic, no allocation.
#[derive(Debug, Clone)]
pub struct LatencyTrim {
    target_samples: usize,
    slack_samples: usize,
    window_samples: usize,
    played_samples: usize,
    min_queued_samples: usize,
}

impl LatencyTrim {
    /// Keeps the queue's low point at `target_samples` (the prefill): when, over `window_samples`
    /// played samples, the queue never held less than `target_samples + slack_samples` before a
    /// piece was played, the surplus above the target is to be skipped.
    pub fn new(target_samples: usize, slack_samples: usize, window_samples: usize) -> Self {
        Self {
            target_samples,
            slack_samples,
            window_samples: window_samples.max(1),
            played_samples: 0,
            min_queued_samples: usize::MAX,
        }
    }

    /// Records one played piece of `frames` samples, taken from a queue that held `queued_samples`
    /// just before, and returns how many of the samples still queued to skip now (usually 0).
    pub fn after_piece(&mut self, frames: usize, queued_samples: usize) -> usize {
        self.min_queued_samples = self.min_queued_samples.min(queued_samples);
        self.played_samples += frames;
        if self.played_samples < self.window_samples {
            return 0;
        }
        let low = self.min_queued_samples;
        self.restart();
        if low > self.target_samples + self.slack_samples {
            low - self.target_samples
        } else {
            0
        }
    }

    /// Starts a new window (after an underrun, or once a surplus was skipped).
    pub fn restart(&mut self) {
        self.played_samples = 0;
        self.min_queued_samples = usize::MAX;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays `pieces` blocks of `block` samples while a producer pushes one 480-sample hop before
    /// every second block; returns the total the trim asked to skip, applied as it goes.
    fn run(trim: &mut LatencyTrim, level: &mut usize, pieces: usize, block: usize) -> usize {
        let mut skipped = 0;
        for i in 0..pieces {
            if i % 2 == 0 {
                *level += 480;
            }
            let queued = *level;
            *level -= block;
            let skip = trim.after_piece(block, queued);
            *level -= skip;
            skipped += skip;
        }
        skipped
    }

    #[test]
    fn the_steady_saw_tooth_at_the_target_is_left_alone() {
        // Prefill 240: the queue holds 480, then 240, before each block is played.
        let mut trim = LatencyTrim::new(240, 240, 24_000);
        let mut level = 0;
        assert_eq!(run(&mut trim, &mut level, 2_000, 240), 0);
        assert_eq!(level, 0);
    }

    #[test]
    fn a_stall_is_taken_back_after_one_window() {
        let mut trim = LatencyTrim::new(240, 240, 24_000);
        // A stall left 50 ms (2400 samples) more queued than the target.
        let mut level = 2_400;
        let skipped = run(&mut trim, &mut level, 100, 240);
        assert_eq!(skipped, 2_400);
        assert_eq!(level, 0);
        // and nothing more afterwards
        assert_eq!(run(&mut trim, &mut level, 1_000, 240), 0);
    }

    #[test]
    fn a_surplus_within_the_slack_stays() {
        let mut trim = LatencyTrim::new(240, 240, 24_000);
        let mut level = 200;
        assert_eq!(run(&mut trim, &mut level, 1_000, 240), 0);
        assert_eq!(level, 200);
    }

    #[test]
    fn a_dip_inside_the_window_prevents_the_trim() {
        let mut trim = LatencyTrim::new(240, 240, 960);
        // Mostly high, but once nearly empty: that margin was needed.
        for _ in 0..3 {
            assert_eq!(trim.after_piece(240, 5_000), 0);
        }
        assert_eq!(trim.after_piece(240, 100), 0);
        // The next window is all high: trimmed down to the target.
        for _ in 0..3 {
            assert_eq!(trim.after_piece(240, 5_000), 0);
        }
        assert_eq!(trim.after_piece(240, 5_000), 4_760);
    }

    #[test]
    fn restart_forgets_the_window() {
        let mut trim = LatencyTrim::new(0, 0, 480);
        assert_eq!(trim.after_piece(240, 1_000), 0);
        trim.restart();
        assert_eq!(trim.after_piece(240, 1_000), 0);
        assert_eq!(trim.after_piece(240, 1_000), 1_000);
    }
}
