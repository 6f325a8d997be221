//! What a live run reports: the streams opened and the latency they imply ([`LiveInfo`], known at
//! start) and how the run went ([`LiveSummary`], at the end).
use std::time::Duration;

use cpal::SampleFormat;

use super::recorder::TapSummary;
use super::stats::DurationStats;
use super::worker::WorkerReport;
use crate::Error;

/// One opened device stream, as reported at start.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// Device identifier.
    pub device: String,
    /// Rate, Hz.
    pub rate_hz: u32,
    /// Channels.
    pub channels: u16,
    /// Sample format.
    pub format: SampleFormat,
    /// Frames per buffer as requested (`None`: host default) and as reported by the stream.
    pub buffer_frames: (Option<u32>, Option<u32>),
}

/// What was opened, and the latency it implies, known at start.
#[derive(Debug, Clone)]
pub struct LiveInfo {
    /// Audio host name.
    pub host: String,
    /// The input stream.
    pub input: StreamInfo,
    /// The output stream.
    pub output: StreamInfo,
    /// STFT overlap + lookahead, ms.
    pub algorithmic_ms: f64,
    /// Waiting for a full input block or hop (whichever is longer), ms.
    pub input_block_ms: f64,
    /// Output device buffer, ms.
    pub output_block_ms: f64,
    /// Output ring prefill, ms.
    pub prefill_ms: f64,
    /// Resampler delays (input + output), ms.
    pub resampling_ms: f64,
}

impl LiveInfo {
    /// Latency added by buffering: input block, output buffer, prefill and resampling, ms.
    pub fn buffer_ms(&self) -> f64 {
        self.input_block_ms + self.output_block_ms + self.prefill_ms + self.resampling_ms
    }

    /// Expected end-to-end latency (algorithmic + buffering), ms; device-internal latencies that the
    /// host does not report in its buffer size come on top (the measured figure includes them).
    pub fn expected_ms(&self) -> f64 {
        self.algorithmic_ms + self.buffer_ms()
    }
}

/// How a run went.
#[derive(Debug)]
pub struct LiveSummary {
    /// Wall-clock duration of the run.
    pub elapsed: Duration,
    /// One report per worker, in order.
    pub workers: Vec<WorkerReport>,
    /// Input callbacks that found a worker ring full.
    pub input_overruns: u64,
    /// Input blocks after which the host seems to have dropped captured audio (by its timestamps;
    /// an estimate, not counted in [`LiveSummary::xruns`]).
    pub input_gaps: u64,
    /// Output callbacks that played silence for lack of samples.
    pub output_underruns: u64,
    /// Xruns reported by the host.
    pub host_xruns: u64,
    /// Queued output samples skipped to bring the latency back to its target after stalls.
    pub output_trimmed_samples: u64,
    /// Times such a surplus was skipped.
    pub output_trims: u64,
    /// Samples the recording taps dropped.
    pub tap_dropped_samples: u64,
    /// Measured end-to-end latency of the worker that fed the output at the end.
    pub measured_latency: Option<DurationStats>,
    /// The recordings written.
    pub recordings: Vec<TapSummary>,
    /// Why the run failed, if it did (the recordings are flushed all the same).
    pub failure: Option<Error>,
}

impl LiveSummary {
    /// Xruns of the audio path: input overruns + output underruns + host xruns (worker overruns are
    /// the per-worker breakdown of the input overruns, so they are not added again).
    pub fn xruns(&self) -> u64 {
        self.input_overruns + self.output_underruns + self.host_xruns
    }
}
