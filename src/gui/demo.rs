//! Synthetic meter values for `dfn4 gui --demo`: a producer that publishes into a [`LiveMeters`] every
//! 10 ms what a live run might show (speech-like levels and LSNR, per-backend compute times with jitter
//! and rare spikes, an occasional xrun) and that follows the controls (bypass, attenuation limit). It
//! runs no audio and no model: it exists to try the window and to take screenshots.
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{DF_LOOKAHEAD, FFT_SIZE, HOP_SIZE, SAMPLE_RATE_HZ};
use crate::stream::meters::LiveMeters;

/// Hops in the window the median and p99 are taken over (one second).
const WINDOW_HOPS: usize = 100;

/// Publishes one synthetic hop at a time into a [`LiveMeters`].
#[derive(Debug)]
pub struct DemoProducer {
    rng: u64,
    hop: u64,
    /// Per worker, the compute times of the last [`WINDOW_HOPS`] hops (a ring indexed by `hop`).
    windows: Vec<[f32; WINDOW_HOPS]>,
    /// Scratch for sorting a window, so a hop allocates nothing.
    sorted: [f32; WINDOW_HOPS],
}

impl DemoProducer {
    /// A producer for `workers` workers, with a fixed seed (the demo looks the same every run).
    pub fn new(workers: usize) -> Self {
        Self {
            rng: 0x9E37_79B9_7F4A_7C15,
            hop: 0,
            windows: vec![[0.0; WINDOW_HOPS]; workers],
            sorted: [0.0; WINDOW_HOPS],
        }
    }

    /// Uniform in [0, 1) (xorshift64*; quality is irrelevant here, determinism is not).
    fn uniform(&mut self) -> f32 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Seconds of audio published so far.
    pub fn time_s(&self) -> f64 {
        self.hop as f64 * HOP_SIZE as f64 / SAMPLE_RATE_HZ as f64
    }

    /// Publishes the next hop.
    pub fn step(&mut self, meters: &LiveMeters) {
        let t = self.time_s();
        let hop_ms = 1000.0 * HOP_SIZE as f32 / SAMPLE_RATE_HZ as f32;
        // Phrases of speech (about 3 s on, 2 s off) with syllables at 4 Hz over a −45 dBFS noise floor.
        let talking = (std::f64::consts::TAU * 0.2 * t).sin() > -0.3;
        let syllable = (0.5 + 0.5 * (std::f64::consts::TAU * 4.0 * t).sin()) as f32;
        let speech = if talking { syllable } else { 0.0 };
        let noise_db = -45.0 + 3.0 * self.uniform();
        let input_db = noise_db + 33.0 * speech;
        let lsnr_db = (-12.0 + 45.0 * speech + 2.0 * self.uniform()).clamp(-15.0, 35.0);

        let limit_db = crate::dsp::deep_filter::atten_lim_from_control(meters.atten_lim_db.load());
        let removed_db: f32 = if speech > 0.3 { 1.0 } else { 30.0 };
        let removed_db = limit_db.map_or(removed_db, |l| removed_db.min(l));
        let output_db = if meters.bypass.load(Relaxed) {
            input_db
        } else {
            input_db - removed_db
        };
        meters.input_peak_db.store(input_db);
        meters.output_peak_db.store(output_db);

        let slot = (self.hop % WINDOW_HOPS as u64) as usize;
        let filled = (self.hop as usize + 1).min(WINDOW_HOPS);
        for index in 0..meters.workers.len() {
            // The first backend is the fast native one; later ones are slower, with rare long stalls.
            let base_ms = if index == 0 { 0.22 } else { 1.2 * index as f32 };
            let spike = index > 0 && self.uniform() < 0.004;
            let frame_ms = if spike {
                base_ms * (4.0 + 8.0 * self.uniform())
            } else {
                base_ms * (0.85 + 0.4 * self.uniform() * self.uniform())
            };
            let worker = &meters.workers[index];
            self.windows[index][slot] = frame_ms;
            let sorted = &mut self.sorted[..filled];
            sorted.copy_from_slice(&self.windows[index][..filled]);
            sorted.sort_unstable_by(f32::total_cmp);
            let mean_ms = sorted.iter().sum::<f32>() / filled as f32;
            worker.frame_ms_last.store(frame_ms);
            worker.frame_ms_median.store(sorted[filled / 2]);
            worker
                .frame_ms_p99
                .store(sorted[(filled * 99).div_ceil(100) - 1]);
            worker
                .frame_ms_max
                .store(worker.frame_ms_max.load().max(frame_ms));
            worker.rtf.store(mean_ms / hop_ms);
            worker.lsnr_db.store(lsnr_db + index as f32 * 0.5);
            worker.frames.fetch_add(1, Relaxed);
            if frame_ms > hop_ms {
                // As in the pipeline: a worker behind makes the input callback overrun its ring.
                worker.overruns.fetch_add(1, Relaxed);
                meters.input_overruns.fetch_add(1, Relaxed);
            }
        }

        if self.uniform() < 0.0005 {
            meters.output_underruns.fetch_add(1, Relaxed);
        }
        let algorithmic_ms =
            1000.0 * (FFT_SIZE - HOP_SIZE + DF_LOOKAHEAD * HOP_SIZE) as f32 / SAMPLE_RATE_HZ as f32;
        let buffer_ms = 3.0 * hop_ms;
        meters.algorithmic_latency_ms.store(algorithmic_ms);
        meters.buffer_latency_ms.store(buffer_ms);
        meters
            .measured_latency_ms
            .store(algorithmic_ms + buffer_ms + 1.0 + self.uniform());
        self.hop += 1;
    }
}

/// Starts a thread that publishes one hop every 10 ms until `meters.running` is cleared.
pub fn spawn(meters: Arc<LiveMeters>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("dfn4-demo".to_owned())
        .spawn(move || {
            let mut producer = DemoProducer::new(meters.workers.len());
            let hop = Duration::from_secs_f64(HOP_SIZE as f64 / SAMPLE_RATE_HZ as f64);
            let start = Instant::now();
            while meters.running.load(Relaxed) {
                producer.step(&meters);
                // Sleep to the next hop's deadline rather than for a fixed time, so the demo does not drift.
                let deadline = start + hop.mul_f64(producer.hop as f64);
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_plausible_and_follow_the_controls() {
        let meters = LiveMeters::new(&["native", "tch-cpu"], None);
        let mut producer = DemoProducer::new(2);
        for _ in 0..1000 {
            producer.step(&meters);
            let (input_db, output_db) = (meters.input_peak_db.load(), meters.output_peak_db.load());
            assert!((-46.0..=-9.0).contains(&input_db), "{input_db}");
            assert!(output_db <= input_db);
        }
        assert!((producer.time_s() - 10.0).abs() < 1e-9);
        for (worker, base_ms) in meters.workers.iter().zip([0.22, 1.2]) {
            assert_eq!(worker.frames.load(Relaxed), 1000);
            let median_ms = worker.frame_ms_median.load();
            assert!(median_ms > 0.85 * base_ms && median_ms < 1.25 * base_ms);
            assert!(worker.frame_ms_p99.load() >= median_ms);
            assert!(worker.frame_ms_max.load() >= worker.frame_ms_p99.load());
            let rtf = worker.rtf.load();
            assert!(rtf > 0.0 && rtf < 0.5, "{rtf}");
        }
        assert!((meters.algorithmic_latency_ms.load() - 20.0).abs() < 1e-4);

        meters.bypass.store(true, Relaxed);
        producer.step(&meters);
        assert_eq!(meters.input_peak_db.load(), meters.output_peak_db.load());
        meters.bypass.store(false, Relaxed);
        meters.atten_lim_db.store(6.0);
        for _ in 0..200 {
            producer.step(&meters);
            let removed_db = meters.input_peak_db.load() - meters.output_peak_db.load();
            assert!((0.0..=6.0 + 1e-4).contains(&removed_db), "{removed_db}");
        }
    }

    #[test]
    fn thread_stops_when_running_is_cleared() {
        let meters = Arc::new(LiveMeters::new(&["native"], None));
        let handle = spawn(Arc::clone(&meters)).expect("spawn");
        while meters.workers[0].frames.load(Relaxed) < 3 {
            std::thread::sleep(Duration::from_millis(5));
        }
        meters.running.store(false, Relaxed);
        handle.join().expect("demo thread");
    }
}
