//! [`LivePipeline`]: opens the devices, wires callbacks, rings, workers and recording taps together,
//! supervises the run and tears it all down into a [`LiveSummary`].
//!
//! Threads: cpal's input and output callback threads, one worker per backend, one writer per
//! recording tap, and a supervisor that ends the run when `--duration` is reached, when
//! [`LivePipeline::stop`] (or a GUI clearing `meters.running`) asks for it, or when a device fails or
//! goes silent (no callback for [`WATCHDOG`]), so a lost device never hangs the run.
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::StreamTrait;
use cpal::StreamConfig;

use super::callbacks::{connect, CallbackCounts, DeviceFormat, RingSizes};
use super::devices::{choose_config, find_device, select_host, Direction, StreamRequest};
use super::meters::LiveMeters;
use super::open::{block_frames, default_prefill, open_streams, stream_info};
use super::recorder::TapRecorder;
use super::summary::{LiveInfo, LiveSummary};
use super::worker::{Worker, WorkerReport};
use crate::backend::AnyBackend;
use crate::config::{HOP_SIZE, SAMPLE_RATE_HZ};
use crate::denoiser::Denoiser;
use crate::{Error, Result};

/// A device that delivers no callback for this long is considered lost.
pub const WATCHDOG: Duration = Duration::from_secs(2);
/// Grace period for the first callbacks after the streams start.
const FIRST_CALLBACK_GRACE: Duration = Duration::from_secs(5);
/// Supervisor polling period.
const SUPERVISE_EVERY: Duration = Duration::from_millis(20);
/// Capacity of the worker rings, in seconds of audio (large, so only a stalled side overflows them).
const RING_SECONDS: f64 = 1.0;
/// Capacity of the recording tap rings, in seconds of audio.
const TAP_SECONDS: f64 = 4.0;

/// One worker to run: the backend name shown in the meters and its denoiser.
pub struct WorkerSpec {
    /// Backend name ("native", "tch-cpu", ...).
    pub backend: String,
    /// The denoiser this worker owns.
    pub denoiser: Denoiser<AnyBackend>,
}

/// Everything [`LivePipeline::start`] needs.
pub struct LiveConfig {
    /// Audio host name (`None`: cpal's default, PulseAudio when it is running, else ALSA).
    pub host: Option<String>,
    /// Input device: index or name (`None`: the host's default).
    pub input: Option<String>,
    /// Output device: index or name (`None`: the host's default).
    pub output: Option<String>,
    /// The workers; the first feeds the output at start. At least one.
    pub workers: Vec<WorkerSpec>,
    /// Device sample rate for both devices (`None`: 48 kHz when supported).
    pub rate_hz: Option<u32>,
    /// Device channel count for both devices (`None`: mono when supported).
    pub channels: Option<u16>,
    /// Frames per device buffer (`None`: the host's default).
    pub buffer_frames: Option<u32>,
    /// Samples (at the output rate) the output ring must hold before playback starts
    /// (`None`: one output buffer plus one input block or 10 ms hop, whichever is longer; see
    /// `default_prefill`).
    pub prefill_frames: Option<usize>,
    /// End the run after this long (`None`: until stopped).
    pub duration: Option<Duration>,
    /// Write the captured input (mono, input rate) to this WAV file.
    pub record_input: Option<PathBuf>,
    /// Write the played output (mono, output rate) to this WAV file.
    pub record_output: Option<PathBuf>,
    /// Initial attenuation limit in dB (`None`: unlimited; the meaning of
    /// [`crate::denoiser::DenoiseParams::atten_lim_db`]).
    pub atten_lim_db: Option<f32>,
    /// Start in bypass.
    pub bypass: bool,
}

/// Failure and liveness state shared with the cpal error callbacks and the supervisor.
#[derive(Default)]
pub(super) struct Health {
    counts: Arc<CallbackCounts>,
    /// The first failure; later ones are consequences.
    failure: Mutex<Option<Error>>,
}

impl Health {
    pub(super) fn fail(&self, err: Error) {
        if let Ok(mut slot) = self.failure.lock() {
            slot.get_or_insert(err);
        }
    }

    /// Whether a failure has been recorded (a poisoned lock counts as one).
    pub(super) fn has_failed(&self) -> bool {
        self.failure.lock().map(|f| f.is_some()).unwrap_or(true)
    }
}

/// A running live pipeline.
pub struct LivePipeline {
    meters: Arc<LiveMeters>,
    info: LiveInfo,
    streams: Vec<cpal::Stream>,
    workers: Vec<JoinHandle<Result<WorkerReport>>>,
    taps: Vec<TapRecorder>,
    supervisor: Option<JoinHandle<()>>,
    health: Arc<Health>,
    started: Instant,
}

impl LivePipeline {
    /// Opens the devices and starts everything. On error nothing keeps running.
    pub fn start(config: LiveConfig) -> Result<Self> {
        if config.workers.is_empty() {
            return Err(Error::Config(
                "the live pipeline needs at least one worker".into(),
            ));
        }
        let host = select_host(config.host.as_deref())?;
        let in_dev = find_device(&host, config.input.as_deref(), Direction::Input)?;
        let out_dev = find_device(&host, config.output.as_deref(), Direction::Output)?;
        let request = StreamRequest {
            rate_hz: config.rate_hz,
            channels: config.channels,
            buffer_frames: config.buffer_frames,
        };
        let (in_cfg, in_fmt) = choose_config(&in_dev, Direction::Input, request)?;
        let (out_cfg, out_fmt) = choose_config(&out_dev, Direction::Output, request)?;

        let names: Vec<&str> = config.workers.iter().map(|w| w.backend.as_str()).collect();
        let meters = Arc::new(LiveMeters::new(&names, config.atten_lim_db));
        meters.bypass.store(config.bypass, Ordering::Relaxed);

        let in_format = DeviceFormat {
            rate_hz: in_cfg.sample_rate,
            channels: usize::from(in_cfg.channels),
        };
        let out_format = DeviceFormat {
            rate_hz: out_cfg.sample_rate,
            channels: usize::from(out_cfg.channels),
        };
        let out_block = block_frames(out_cfg.buffer_size, out_format.rate_hz);
        let in_block = block_frames(in_cfg.buffer_size, in_format.rate_hz);
        let prefill = config.prefill_frames.unwrap_or_else(|| {
            default_prefill(in_block, in_format.rate_hz, out_block, out_format.rate_hz)
        });
        let seconds = |s: f64, hz: u32| (s * f64::from(hz)) as usize;
        let sizes = RingSizes {
            ring_samples: seconds(RING_SECONDS, in_format.rate_hz.max(out_format.rate_hz))
                .max(4 * prefill),
            input_tap_samples: if config.record_input.is_some() {
                seconds(TAP_SECONDS, in_format.rate_hz)
            } else {
                0
            },
            output_tap_samples: if config.record_output.is_some() {
                seconds(TAP_SECONDS, out_format.rate_hz)
            } else {
                0
            },
            prefill_samples: prefill,
        };
        let health = Arc::new(Health::default());
        let epoch = Instant::now();
        let (mut input_side, output_side, ports, outlets) = connect(
            Arc::clone(&meters),
            in_format,
            out_format,
            sizes,
            Arc::clone(&health.counts),
            epoch,
        );

        let mut taps = Vec::new();
        if let (Some(path), Some(ring)) = (&config.record_input, outlets.input) {
            taps.push(TapRecorder::start(path, in_format.rate_hz, ring)?);
        }
        if let (Some(path), Some(ring)) = (&config.record_output, outlets.output) {
            taps.push(TapRecorder::start(path, out_format.rate_hz, ring)?);
        }

        // Workers are built (resamplers and all) before any thread starts, so a bad rate fails cleanly.
        let mut built = Vec::new();
        let mut latency_samples = 0;
        for (i, (spec, ports)) in config.workers.into_iter().zip(ports).enumerate() {
            latency_samples = latency_samples.max(spec.denoiser.latency_samples());
            built.push(Worker::new(
                i,
                spec.denoiser,
                ports,
                Arc::clone(&meters),
                in_format.rate_hz,
                out_format.rate_hz,
            )?);
        }
        let resampling_ms = built[0].resampling_delay_ms();
        let mut workers = Vec::new();
        for (i, worker) in built.into_iter().enumerate() {
            let meters = Arc::clone(&meters);
            let handle = std::thread::Builder::new()
                .name(format!("dfn4-worker-{i}"))
                .spawn(move || {
                    let result = worker.run();
                    if result.is_err() {
                        // A failed worker ends the run; `join` reports its error.
                        meters.running.store(false, Ordering::Relaxed);
                    }
                    result
                })
                .map_err(Error::Io)?;
            workers.push(handle);
        }
        input_side.set_wakers(workers.iter().map(|h| h.thread().clone()).collect());

        let mut pipeline = Self {
            meters: Arc::clone(&meters),
            info: LiveInfo {
                host: host.id().name().to_string(),
                input: stream_info(&in_dev, &in_cfg, in_fmt),
                output: stream_info(&out_dev, &out_cfg, out_fmt),
                algorithmic_ms: latency_samples as f64 * 1000.0 / SAMPLE_RATE_HZ as f64,
                input_block_ms: 0.0,
                output_block_ms: 0.0,
                prefill_ms: prefill as f64 * 1000.0 / f64::from(out_format.rate_hz),
                resampling_ms,
            },
            streams: Vec::new(),
            workers,
            taps,
            supervisor: None,
            health: Arc::clone(&health),
            started: Instant::now(),
        };
        // From here on, a failure must stop the threads already running: `abort` does that.
        let streams = open_streams(
            &in_dev,
            in_cfg,
            in_fmt,
            input_side,
            &out_dev,
            out_cfg,
            out_fmt,
            output_side,
            &meters,
            &health,
        );
        match streams {
            Ok(streams) => pipeline.streams = streams,
            Err(e) => {
                pipeline.abort();
                return Err(e);
            }
        }
        // Output first: it plays silence until the workers have filled the prefill.
        for stream in pipeline.streams.iter().rev() {
            if let Err(e) = stream.play() {
                pipeline.abort();
                return Err(Error::Audio(format!("cannot start the audio streams: {e}")));
            }
        }
        pipeline.fill_latency_figures(&in_cfg, &out_cfg);
        let started = Instant::now();
        pipeline.started = started;
        let supervisor = {
            let meters = Arc::clone(&meters);
            let health = Arc::clone(&health);
            let duration = config.duration;
            std::thread::Builder::new()
                .name("dfn4-supervisor".into())
                .spawn(move || supervise(&meters, &health, started, duration))
                .map_err(Error::Io)
        };
        match supervisor {
            Ok(h) => pipeline.supervisor = Some(h),
            Err(e) => {
                pipeline.abort();
                return Err(e);
            }
        }
        Ok(pipeline)
    }

    fn fill_latency_figures(&mut self, in_cfg: &StreamConfig, out_cfg: &StreamConfig) {
        let frames = |stream: &cpal::Stream, cfg: &StreamConfig| -> Option<u32> {
            stream
                .buffer_size()
                .ok()
                .filter(|&n| n > 0)
                .or(match cfg.buffer_size {
                    cpal::BufferSize::Fixed(n) => Some(n),
                    cpal::BufferSize::Default => None,
                })
        };
        let in_frames = self.streams.first().and_then(|s| frames(s, in_cfg));
        let out_frames = self.streams.get(1).and_then(|s| frames(s, out_cfg));
        self.info.input.buffer_frames.1 = in_frames;
        self.info.output.buffer_frames.1 = out_frames;
        let ms = |n: Option<u32>, hz: u32| f64::from(n.unwrap_or(0)) * 1000.0 / f64::from(hz);
        let hop_ms = HOP_SIZE as f64 * 1000.0 / SAMPLE_RATE_HZ as f64;
        self.info.input_block_ms = ms(in_frames, in_cfg.sample_rate).max(hop_ms);
        self.info.output_block_ms = ms(out_frames, out_cfg.sample_rate);
        let m = &self.meters;
        m.algorithmic_latency_ms
            .store(self.info.algorithmic_ms as f32);
        m.buffer_latency_ms.store(self.info.buffer_ms() as f32);
    }

    /// The meters and controls of this run (for a display; also how a GUI stops the run).
    pub fn meters(&self) -> Arc<LiveMeters> {
        Arc::clone(&self.meters)
    }

    /// What was opened and the latency expected from it.
    pub fn info(&self) -> &LiveInfo {
        &self.info
    }

    /// Asks the run to end; [`LivePipeline::join`] then returns promptly.
    pub fn stop(&self) {
        self.meters.running.store(false, Ordering::Relaxed);
    }

    /// Whether the run is still going (it ends on duration, stop, or failure).
    pub fn is_running(&self) -> bool {
        self.meters.running.load(Ordering::Relaxed)
    }

    /// Stops everything after a failed start.
    fn abort(&mut self) {
        self.stop();
        self.streams.clear();
        for h in self.workers.drain(..) {
            h.thread().unpark();
            let _ = h.join();
        }
        for tap in self.taps.drain(..) {
            let _ = tap.finish();
        }
    }

    /// Waits for the run to end (duration reached, [`LivePipeline::stop`], or a failure), then closes
    /// the devices, joins the workers and finalises the recordings.
    pub fn join(mut self) -> LiveSummary {
        if let Some(h) = self.supervisor.take() {
            let _ = h.join();
        }
        self.stop();
        let elapsed = self.started.elapsed();
        // Closing the devices first stops the callbacks, so the taps see the end of their data.
        self.streams.clear();
        let mut reports = Vec::new();
        for (i, h) in self.workers.drain(..).enumerate() {
            h.thread().unpark();
            match h.join() {
                Ok(Ok(report)) => reports.push(report),
                Ok(Err(e)) => {
                    self.health
                        .fail(Error::Backend(format!("worker {i} failed: {e}")));
                }
                Err(_) => self
                    .health
                    .fail(Error::Backend(format!("worker {i} panicked"))),
            }
        }
        let mut recordings = Vec::new();
        for tap in self.taps.drain(..) {
            match tap.finish() {
                Ok(s) => recordings.push(s),
                Err(e) => self.health.fail(e),
            }
        }
        let m = &self.meters;
        let active = m.active_worker.load(Ordering::Relaxed);
        let failure = self.health.failure.lock().ok().and_then(|mut f| f.take());
        LiveSummary {
            elapsed,
            measured_latency: reports.get(active).and_then(|r| r.latency),
            workers: reports,
            input_overruns: m.input_overruns.load(Ordering::Relaxed),
            input_gaps: m.input_gaps.load(Ordering::Relaxed),
            output_underruns: m.output_underruns.load(Ordering::Relaxed),
            host_xruns: m.host_xruns.load(Ordering::Relaxed),
            output_trimmed_samples: m.output_trimmed_samples.load(Ordering::Relaxed),
            output_trims: m.output_trims.load(Ordering::Relaxed),
            tap_dropped_samples: m.tap_dropped_samples.load(Ordering::Relaxed),
            recordings,
            failure,
        }
    }
}

/// Ends the run on duration, stop request, device failure or a device that stopped calling back.
fn supervise(meters: &LiveMeters, health: &Health, started: Instant, duration: Option<Duration>) {
    let counts = &health.counts;
    let mut last = (0u64, 0u64);
    let mut last_change = [started, started];
    let mut seen = [false, false];
    while meters.running.load(Ordering::Relaxed) {
        std::thread::sleep(SUPERVISE_EVERY);
        let now = Instant::now();
        if duration.is_some_and(|d| now.duration_since(started) >= d) {
            break;
        }
        if health.has_failed() {
            break;
        }
        let current = (
            counts.input.load(Ordering::Relaxed),
            counts.output.load(Ordering::Relaxed),
        );
        for (side, (cur, prev)) in [(current.0, last.0), (current.1, last.1)]
            .into_iter()
            .enumerate()
        {
            if cur != prev {
                seen[side] = true;
                last_change[side] = now;
            }
            let limit = if seen[side] {
                WATCHDOG
            } else {
                FIRST_CALLBACK_GRACE
            };
            if now.duration_since(last_change[side]) > limit {
                let what = if side == 0 { "input" } else { "output" };
                health.fail(Error::Audio(format!(
                    "the {what} device stopped delivering audio (no callback for {:.1} s); \
                     it was probably disconnected",
                    limit.as_secs_f64()
                )));
            }
        }
        last = current;
    }
    meters.running.store(false, Ordering::Relaxed);
}
