//! Meters and controls shared between the live pipeline and whatever displays it (terminal, egui).
//!
//! Everything here is a plain atomic: the audio callbacks and the worker threads publish with relaxed
//! stores and never wait, readers (the GUI repainting at a bounded rate, the terminal summary) load
//! whenever they like. A reader may see values from two neighbouring frames mixed together; for meters
//! that is harmless, and it is the price of never blocking the real-time side.
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

pub use crate::dsp::deep_filter::ATTEN_LIM_UNLIMITED_DB;

/// An `f32` stored in an [`AtomicU32`] by its bit pattern.
#[derive(Debug, Default)]
pub struct AtomicF32(AtomicU32);

impl AtomicF32 {
    /// A new atomic holding `value`.
    pub fn new(value: f32) -> Self {
        Self(AtomicU32::new(value.to_bits()))
    }

    /// The current value.
    pub fn load(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }

    /// Replaces the value.
    pub fn store(&self, value: f32) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

/// What one worker (one backend) publishes after each 10 ms hop.
#[derive(Debug)]
pub struct WorkerMeters {
    /// Backend name as given on the command line ("native", "tch-cpu", ...).
    pub backend: String,
    /// Compute time of the most recent hop (DSP + model), in milliseconds.
    pub frame_ms_last: AtomicF32,
    /// Median compute time per hop over the recent window (about one second), in milliseconds.
    pub frame_ms_median: AtomicF32,
    /// 99th percentile of the compute time per hop over the recent window, in milliseconds.
    pub frame_ms_p99: AtomicF32,
    /// Largest compute time per hop since the run started, in milliseconds.
    pub frame_ms_max: AtomicF32,
    /// Real-time factor over the recent window: compute time / audio time (1.0 = just keeps up).
    pub rtf: AtomicF32,
    /// Local SNR estimate of the most recent hop, in dB (the model's LSNR head).
    pub lsnr_db: AtomicF32,
    /// Hops processed since the run started.
    pub frames: AtomicU64,
    /// Hops that arrived while this worker was still behind (its input ring overflowed).
    pub overruns: AtomicU64,
    /// Input samples that were not audio (NaN/Inf → 0, beyond ±1000 clamped) before they reached the
    /// resampler and the model ([`crate::dsp::sanitize`]); 0 from a sane device.
    pub input_repaired: AtomicU64,
    /// Hops whose output was non-finite, so the denoiser was reset ([`crate::denoiser::DenoiserHealth`]).
    pub denoiser_resets: AtomicU64,
}

impl WorkerMeters {
    /// Zeroed meters for the backend called `backend`.
    pub fn new(backend: &str) -> Self {
        Self {
            backend: backend.to_owned(),
            frame_ms_last: AtomicF32::new(0.0),
            frame_ms_median: AtomicF32::new(0.0),
            frame_ms_p99: AtomicF32::new(0.0),
            frame_ms_max: AtomicF32::new(0.0),
            rtf: AtomicF32::new(0.0),
            lsnr_db: AtomicF32::new(0.0),
            frames: AtomicU64::new(0),
            overruns: AtomicU64::new(0),
            input_repaired: AtomicU64::new(0),
            denoiser_resets: AtomicU64::new(0),
        }
    }
}

/// Meters of the whole live run plus the controls a user may change while it runs.
#[derive(Debug)]
pub struct LiveMeters {
    /// One entry per worker, in the order of `--compare` (the first is the default output).
    pub workers: Vec<WorkerMeters>,
    /// Peak level of the most recent input block, in dBFS.
    pub input_peak_db: AtomicF32,
    /// Peak level of the most recent output block, in dBFS.
    pub output_peak_db: AtomicF32,
    /// Input callbacks that found the ring towards the workers full (samples were dropped).
    pub input_overruns: AtomicU64,
    /// Input blocks that started later than the previous one ended, by the host's capture timestamps:
    /// most likely the host dropped captured audio before the input callback saw it. An estimate, not
    /// an xrun count: hosts whose timestamps come from a stale latency figure report gaps that are not
    /// there (seen with cpal's PulseAudio client once its capture buffer was enlarged).
    pub input_gaps: AtomicU64,
    /// Output callbacks that found too few denoised samples (silence was played instead).
    pub output_underruns: AtomicU64,
    /// Queued output samples the output callback skipped to bring the latency back to its target
    /// after a stall (a late worker or an underrun leaves more queued than the prefill; without
    /// the trim that extra delay would stay for the rest of the run).
    pub output_trimmed_samples: AtomicU64,
    /// Times the output callback skipped such a surplus (each one is a cross-faded cut).
    pub output_trims: AtomicU64,
    /// Xruns reported by the audio host itself (cpal stream errors of the xrun kind).
    pub host_xruns: AtomicU64,
    /// Samples the recording taps (`--record-input` / `--record-output`) had to drop because the
    /// file writer fell behind; the audio itself is unaffected, so these are not xruns.
    pub tap_dropped_samples: AtomicU64,
    /// Algorithmic latency (STFT overlap + lookahead), in milliseconds; fixed for the run.
    pub algorithmic_latency_ms: AtomicF32,
    /// Latency added by device buffers and ring prefill, in milliseconds, as configured.
    pub buffer_latency_ms: AtomicF32,
    /// End-to-end latency measured through the pipeline (input callback to output callback), in ms.
    pub measured_latency_ms: AtomicF32,
    /// Control: when set, the output is the (delayed) input, unprocessed.
    pub bypass: AtomicBool,
    /// Control: attenuation limit in dB, as [`crate::denoiser::DenoiseParams::atten_lim_db`] means it
    /// (0 = no attenuation); [`ATTEN_LIM_UNLIMITED_DB`] or more = no limit.
    pub atten_lim_db: AtomicF32,
    /// Control: index into `workers` of the worker whose output is played.
    pub active_worker: AtomicUsize,
    /// Cleared to ask the pipeline to stop; the pipeline clears it itself when it ends.
    pub running: AtomicBool,
}

impl LiveMeters {
    /// Zeroed meters for workers running `backends`, in that order; running, not bypassed.
    pub fn new(backends: &[&str], atten_lim_db: Option<f32>) -> Self {
        Self {
            workers: backends
                .iter()
                .map(|name| WorkerMeters::new(name))
                .collect(),
            input_peak_db: AtomicF32::new(f32::NEG_INFINITY),
            output_peak_db: AtomicF32::new(f32::NEG_INFINITY),
            input_overruns: AtomicU64::new(0),
            input_gaps: AtomicU64::new(0),
            output_underruns: AtomicU64::new(0),
            output_trimmed_samples: AtomicU64::new(0),
            output_trims: AtomicU64::new(0),
            host_xruns: AtomicU64::new(0),
            tap_dropped_samples: AtomicU64::new(0),
            algorithmic_latency_ms: AtomicF32::new(0.0),
            buffer_latency_ms: AtomicF32::new(0.0),
            measured_latency_ms: AtomicF32::new(0.0),
            bypass: AtomicBool::new(false),
            atten_lim_db: AtomicF32::new(atten_lim_db.unwrap_or(ATTEN_LIM_UNLIMITED_DB)),
            active_worker: AtomicUsize::new(0),
            running: AtomicBool::new(true),
        }
    }

    /// All xruns of the run: input overruns, output underruns and host xruns, as in
    /// `LiveSummary::xruns`. Worker overruns are not added: they are the input overruns again, counted
    /// per worker (one input callback that finds two workers behind is one input overrun and two worker
    /// overruns). Input gaps are an estimate and reported apart.
    pub fn total_xruns(&self) -> u64 {
        self.input_overruns.load(Ordering::Relaxed)
            + self.output_underruns.load(Ordering::Relaxed)
            + self.host_xruns.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_f32_round_trips_every_bit_pattern_class() {
        for value in [0.0, -0.0, 1.5, -3.25e-7, f32::INFINITY, f32::NEG_INFINITY] {
            let a = AtomicF32::new(0.0);
            a.store(value);
            assert_eq!(a.load().to_bits(), value.to_bits());
        }
        assert!(AtomicF32::new(f32::NAN).load().is_nan());
    }

    #[test]
    fn xruns_add_up_across_sources() {
        let meters = LiveMeters::new(&["native", "tch-cpu"], None);
        assert_eq!(meters.total_xruns(), 0);
        meters.input_overruns.fetch_add(2, Ordering::Relaxed);
        meters.output_underruns.fetch_add(3, Ordering::Relaxed);
        meters.host_xruns.fetch_add(4, Ordering::Relaxed);
        // The two input overruns, seen per worker: not counted again.
        meters.workers[0].overruns.fetch_add(2, Ordering::Relaxed);
        meters.workers[1].overruns.fetch_add(1, Ordering::Relaxed);
        meters.input_gaps.fetch_add(7, Ordering::Relaxed);
        assert_eq!(meters.total_xruns(), 9, "input gaps are reported apart");
        assert_eq!(meters.workers[1].backend, "tch-cpu");
        assert!(meters.running.load(Ordering::Relaxed));
    }
}
