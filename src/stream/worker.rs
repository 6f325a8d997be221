//! A worker thread: owns one [`Denoiser`] (over one backend) and moves audio from its
//! input ring to its output ring, one 10 ms hop at a time, resampling between the device rates and
//! 48 kHz on the way. It times every hop, publishes its meters, applies the live controls (bypass,
//! attenuation limit) and, from the callbacks' timestamp marks, measures the end-to-end latency.
//! All buffers are allocated in [`Worker::new`]; [`Worker::pump`] does not allocate. Device samples
//! that are not audio are repaired before the resampler ([`InputGuard`]) and a non-finite hop resets
//! the denoiser; both are counted in the worker's meters.
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringbuf::traits::{Consumer, Observer, Producer};

use super::callbacks::{samples_to_ns, WorkerPorts};
use super::meters::LiveMeters;
use super::stats::{DurationStats, FrameTimes};
use crate::backend::AnyBackend;
use crate::config::{HOP_SIZE, SAMPLE_RATE_HZ};
use crate::denoiser::Denoiser;
use crate::dsp::deep_filter::atten_lim_from_control;
use crate::dsp::resample::BlockResampler;
use crate::dsp::sanitize::InputGuard;
use crate::Result;

/// Hops between two updates of the windowed meters and of the latency measurement (100 ms).
const PUBLISH_EVERY_HOPS: u64 = 10;
/// Duration of one hop, the audio time a hop's compute time is compared with for the RTF.
const HOP_MS: f64 = HOP_SIZE as f64 * 1000.0 / SAMPLE_RATE_HZ as f64;
/// Longest wait for new input; the input callback wakes the worker sooner.
const PARK_TIMEOUT: Duration = Duration::from_millis(5);

/// What a worker reports when it ends.
#[derive(Debug, Clone, Default)]
pub struct WorkerReport {
    /// Backend name of this worker.
    pub backend: String,
    /// Hops processed.
    pub frames: u64,
    /// Compute time per hop over the whole run, ms.
    pub compute: DurationStats,
    /// Median real-time factor per hop (compute time / 10 ms).
    pub rtf_median: f64,
    /// 99th percentile of the real-time factor per hop.
    pub rtf_p99: f64,
    /// Measured end-to-end latency over the run, ms (`None` if it could never be measured).
    pub latency: Option<DurationStats>,
    /// Output samples dropped because the output ring was full (the output device stopped taking).
    pub output_dropped_samples: u64,
}

/// Signal-path delays of a worker, used to map input sample indices to output sample indices.
#[derive(Debug, Clone, Copy)]
struct PathDelays {
    rate_in_hz: f64,
    rate_out_hz: f64,
    /// Input resampler delay plus the denoiser's, in 48 kHz samples.
    delay_48k: f64,
    /// Output resampler delay, in output samples.
    delay_out: f64,
}

impl PathDelays {
    /// Output ring index of the sample that input ring index `i` becomes.
    fn output_index(&self, i: u64) -> f64 {
        let sr = SAMPLE_RATE_HZ as f64;
        ((i as f64) * sr / self.rate_in_hz + self.delay_48k) * self.rate_out_hz / sr
            + self.delay_out
    }
}

/// A linear FIFO of a few blocks of samples (not shared between threads).
struct Fifo {
    buf: Vec<f32>,
    len: usize,
}

impl Fifo {
    fn with_capacity(n: usize) -> Self {
        Self {
            buf: vec![0.0; n],
            len: 0,
        }
    }

    fn push(&mut self, samples: &[f32]) {
        debug_assert!(self.len + samples.len() <= self.buf.len());
        self.buf[self.len..self.len + samples.len()].copy_from_slice(samples);
        self.len += samples.len();
    }

    fn take(&mut self, out: &mut [f32]) {
        let n = out.len();
        debug_assert!(n <= self.len);
        out.copy_from_slice(&self.buf[..n]);
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

/// One worker: see the module header.
pub struct Worker {
    index: usize,
    denoiser: Denoiser<AnyBackend>,
    ports: WorkerPorts,
    meters: Arc<LiveMeters>,
    rs_in: BlockResampler,
    rs_out: BlockResampler,
    dev_in: Vec<f32>,
    at_48k_in: Vec<f32>,
    fifo_in: Fifo,
    hop_in: [f32; HOP_SIZE],
    hop_out: [f32; HOP_SIZE],
    /// The input delayed by the denoiser's latency (what bypass plays), `latency + HOP_SIZE` long.
    bypass_line: Vec<f32>,
    fifo_out: Fifo,
    at_48k_out: Vec<f32>,
    dev_out: Vec<f32>,
    times: FrameTimes,
    latency: FrameTimes,
    atten_control_db: f32,
    delays: PathDelays,
    popped: u64,
    pushed: u64,
    output_dropped: u64,
    guard: InputGuard,
}

impl Worker {
    /// A worker `index` (into `meters.workers`) between the given rings and device rates.
    pub fn new(
        index: usize,
        denoiser: Denoiser<AnyBackend>,
        ports: WorkerPorts,
        meters: Arc<LiveMeters>,
        rate_in_hz: u32,
        rate_out_hz: u32,
    ) -> Result<Self> {
        let sr = SAMPLE_RATE_HZ as u32;
        let rs_in = BlockResampler::new(rate_in_hz, sr)?;
        // Devices at one rate go back through the exact inverse (an approximated ratio then keeps the
        // sample counts of both sides in step).
        let rs_out = if rate_out_hz == rate_in_hz {
            BlockResampler::inverse_of(&rs_in, sr, rate_out_hz)?
        } else {
            BlockResampler::new(sr, rate_out_hz)?
        };
        let latency = denoiser.latency_samples();
        let delays = PathDelays {
            rate_in_hz: f64::from(rate_in_hz),
            rate_out_hz: f64::from(rate_out_hz),
            delay_48k: (rs_in.delay_out_samples() + latency) as f64,
            delay_out: rs_out.delay_out_samples() as f64,
        };
        // Force the first hop to apply the control value, whatever the denoiser was built with.
        let atten_control_db = f32::NAN;
        Ok(Self {
            index,
            denoiser,
            ports,
            meters,
            dev_in: vec![0.0; rs_in.block_in()],
            at_48k_in: vec![0.0; rs_in.block_out()],
            fifo_in: Fifo::with_capacity(rs_in.block_out() + HOP_SIZE),
            hop_in: [0.0; HOP_SIZE],
            hop_out: [0.0; HOP_SIZE],
            bypass_line: vec![0.0; latency + HOP_SIZE],
            fifo_out: Fifo::with_capacity(rs_out.block_in() + HOP_SIZE),
            at_48k_out: vec![0.0; rs_out.block_in()],
            dev_out: vec![0.0; rs_out.block_out()],
            rs_in,
            rs_out,
            times: FrameTimes::new(),
            latency: FrameTimes::with_range(2000.0, 10.0),
            atten_control_db,
            delays,
            popped: 0,
            pushed: 0,
            output_dropped: 0,
            guard: InputGuard::new(),
        })
    }

    /// Delay added by the resamplers, in ms (input side + output side; 0 at 48 kHz).
    pub fn resampling_delay_ms(&self) -> f64 {
        let sr = SAMPLE_RATE_HZ as f64;
        self.rs_in.delay_out_samples() as f64 * 1000.0 / sr
            + self.delays.delay_out * 1000.0 / self.delays.rate_out_hz
    }

    /// Processes everything available in the input ring; returns whether anything was processed.
    pub fn pump(&mut self) -> Result<bool> {
        let mut worked = false;
        while self.ports.input.occupied_len() >= self.dev_in.len() {
            worked = true;
            let got = self.ports.input.pop_slice(&mut self.dev_in);
            debug_assert_eq!(got, self.dev_in.len());
            self.popped += got as u64;
            self.guard.sanitize(&mut self.dev_in);
            self.rs_in.process(&self.dev_in, &mut self.at_48k_in)?;
            self.fifo_in.push(&self.at_48k_in);
            while self.fifo_in.len >= HOP_SIZE {
                self.fifo_in.take(&mut self.hop_in);
                self.hop()?;
                self.fifo_out.push(&self.hop_out);
            }
            while self.fifo_out.len >= self.at_48k_out.len() {
                self.fifo_out.take(&mut self.at_48k_out);
                self.rs_out.process(&self.at_48k_out, &mut self.dev_out)?;
                let n = self.ports.output.push_slice(&self.dev_out);
                self.pushed += n as u64;
                self.output_dropped += (self.dev_out.len() - n) as u64;
            }
        }
        Ok(worked)
    }

    /// One hop: controls, denoising (timed), bypass, meters.
    fn hop(&mut self) -> Result<()> {
        let meters = &self.meters;
        let control_db = meters.atten_lim_db.load();
        if control_db.to_bits() != self.atten_control_db.to_bits() {
            let mut params = *self.denoiser.params();
            params.atten_lim_db = atten_lim_from_control(control_db);
            self.denoiser.set_params(params)?;
            self.atten_control_db = control_db;
        }
        let start = Instant::now();
        let lsnr_db = self
            .denoiser
            .process_frame(&self.hop_in, &mut self.hop_out)?;
        let elapsed = start.elapsed();

        // The bypass line always runs, so switching bypass on or off never jumps in time.
        let line_len = self.bypass_line.len();
        self.bypass_line[line_len - HOP_SIZE..].copy_from_slice(&self.hop_in);
        if meters.bypass.load(Ordering::Relaxed) {
            self.hop_out.copy_from_slice(&self.bypass_line[..HOP_SIZE]);
        }
        self.bypass_line.copy_within(HOP_SIZE.., 0);

        self.times.record(elapsed);
        let m = &meters.workers[self.index];
        m.frame_ms_last
            .store((elapsed.as_secs_f64() * 1000.0) as f32);
        m.lsnr_db.store(lsnr_db);
        m.input_repaired
            .store(self.guard.counts().total(), Ordering::Relaxed);
        m.denoiser_resets
            .store(self.denoiser.health().resets, Ordering::Relaxed);
        let frames = m.frames.fetch_add(1, Ordering::Relaxed) + 1;
        if frames.is_multiple_of(PUBLISH_EVERY_HOPS) {
            let w = self.times.window();
            m.frame_ms_median.store(w.median_ms as f32);
            m.frame_ms_p99.store(w.p99_ms as f32);
            m.frame_ms_max.store(w.max_ms as f32);
            m.rtf.store((w.mean_ms / HOP_MS) as f32);
            self.measure_latency();
        }
        Ok(())
    }

    /// End-to-end latency of the newest input sample: when it will be played minus when it was
    /// captured, both from the callbacks' marks, mapped through this worker's known path delays.
    fn measure_latency(&mut self) {
        if self.popped == 0 {
            return;
        }
        let (Some((in_ns, pushed)), Some((play_ns, popped_out))) =
            (self.ports.input_mark.read(), self.ports.output_mark.read())
        else {
            return;
        };
        let i = self.popped - 1;
        // The ring preserves the input's pacing, so sample i was captured (pushed − 1 − i) samples
        // before the newest one.
        let behind = pushed.saturating_sub(1).saturating_sub(i);
        let rate_in = self.delays.rate_in_hz as u32;
        let capture_ns = in_ns as f64 - samples_to_ns(behind, rate_in) as f64;
        let j = self.delays.output_index(i);
        let play_j_ns = play_ns as f64 + (j - popped_out as f64) * 1e9 / self.delays.rate_out_hz;
        let latency_ms = (play_j_ns - capture_ns) / 1e6;
        if latency_ms.is_finite() && latency_ms > 0.0 {
            self.latency
                .record(Duration::from_secs_f64(latency_ms / 1000.0));
            if self.meters.active_worker.load(Ordering::Relaxed) == self.index {
                self.meters.measured_latency_ms.store(latency_ms as f32);
            }
        }
    }

    /// Runs until `meters.running` is cleared or processing fails; flush-to-zero is set first.
    pub fn run(mut self) -> Result<WorkerReport> {
        enable_flush_to_zero();
        while self.meters.running.load(Ordering::Relaxed) {
            if !self.pump()? {
                std::thread::park_timeout(PARK_TIMEOUT);
            }
        }
        Ok(self.report())
    }

    /// The end-of-run report.
    pub fn report(&self) -> WorkerReport {
        let compute = self.times.run();
        let latency = self.latency.run();
        WorkerReport {
            backend: self.meters.workers[self.index].backend.clone(),
            frames: compute.count,
            compute,
            rtf_median: compute.median_ms / HOP_MS,
            rtf_p99: compute.p99_ms / HOP_MS,
            latency: (latency.count > 0).then_some(latency),
            output_dropped_samples: self.output_dropped,
        }
    }
}

/// Sets flush-to-zero and denormals-are-zero on the calling thread for good (the worker owns its
/// thread), so decaying recurrent state never drops into the (very slow) subnormal range.
pub fn enable_flush_to_zero() {
    crate::host::DenormalGuard::new().keep();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_to_zero_flushes_subnormals_on_this_thread_only() {
        // Not inlined and fed through black_box, so the product is computed at run time each call
        // (the optimiser assumes the default floating-point mode and would reuse a result).
        #[inline(never)]
        fn tiny_product() -> f32 {
            std::hint::black_box(1e-30f32) * std::hint::black_box(1e-10f32)
        }
        std::thread::spawn(|| {
            assert!(tiny_product() > 0.0, "subnormal before");
            enable_flush_to_zero();
            assert_eq!(tiny_product(), 0.0, "flushed after");
        })
        .join()
        .unwrap();
        assert!(tiny_product() > 0.0, "other threads keep subnormals");
    }

    #[test]
    fn output_index_maps_through_every_delay() {
        let d = PathDelays {
            rate_in_hz: 48_000.0,
            rate_out_hz: 48_000.0,
            delay_48k: 960.0,
            delay_out: 0.0,
        };
        assert_eq!(d.output_index(100), 1060.0);
        let d = PathDelays {
            rate_in_hz: 44_100.0,
            rate_out_hz: 16_000.0,
            delay_48k: 240.0 + 960.0,
            delay_out: 80.0,
        };
        // 441 input samples = 10 ms = 480 samples at 48 kHz; (480 + 1200) / 3 + 80.
        assert!((d.output_index(441) - (560.0 + 80.0)).abs() < 1e-9);
    }
}
