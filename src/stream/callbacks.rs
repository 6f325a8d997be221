//! The bodies of the two audio callbacks, as plain structs so they can be driven (and checked for
//! allocations) without a sound card. [`connect`] builds the rings between them and the workers.
//!
//! Input callback: device samples → mono → one ring per worker (+ the input tap), a timestamp mark per
//! worker, a wake-up of each worker. Output callback: the active worker's ring → every device channel;
//! the other workers' rings are drained in step so all of them stay aligned and can be switched to.
//! Both only convert samples, push/pop lock-free SPSC rings and store atomics; a full or empty ring
//! means dropped samples or played silence plus a counter, never a wait.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use cpal::{FromSample, Sample};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use super::clock::{nanos_since, ClockMark};
use super::convert::{mix_to_mono, peak_dbfs, spread_mono};
use super::meters::LiveMeters;
use super::trim::LatencyTrim;

/// Longest device block converted in one piece; longer blocks are handled in several pieces.
pub const MAX_PIECE_FRAMES: usize = 4096;

/// How long the output queue must stay above its target before the surplus is skipped, in ms.
const TRIM_WINDOW_MS: u32 = 500;
/// Surplus over the prefill that is tolerated without trimming, in ms.
const TRIM_SLACK_MS: u32 = 5;
/// Length of the cross-fade over a trim, in ms (a bare cut would click).
const TRIM_FADE_MS: u32 = 2;
/// A batch of input blocks whose capture starts this much later than the previous batch's capture
/// ended most likely means the host dropped captured audio (cpal's PulseAudio capture keeps one
/// buffer, so a late client loses the next one). Well above the jitter of the hosts' timestamps seen
/// here (about 1 ms); only an estimate, since some hosts' timestamps lag (see `LiveMeters::input_gaps`).
const INPUT_GAP_NS: u64 = 10_000_000;
/// Input callbacks this close together form one batch: cpal's PulseAudio host delivers one period
/// in two blocks back to back and stamps both with the first one's capture time.
const INPUT_BATCH_NS: u64 = 1_000_000;

/// Rate and channel count of an opened device stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceFormat {
    /// Device sample rate in Hz.
    pub rate_hz: u32,
    /// Interleaved channels per frame.
    pub channels: usize,
}

/// Sizes of the rings built by [`connect`].
#[derive(Debug, Clone, Copy)]
pub struct RingSizes {
    /// Capacity of each worker's input and output ring, in samples at the device rate.
    pub ring_samples: usize,
    /// Capacity of each recording tap's ring, in samples (0: no tap).
    pub input_tap_samples: usize,
    /// Capacity of the output tap's ring, in samples (0: no tap).
    pub output_tap_samples: usize,
    /// Samples the active output ring must hold before the output callback starts playing from it.
    pub prefill_samples: usize,
}

/// One worker's ends of the rings and the marks it reads to measure latency.
pub struct WorkerPorts {
    /// Mono input at the input device rate.
    pub input: HeapCons<f32>,
    /// Mono output at the output device rate.
    pub output: HeapProd<f32>,
    /// Capture time (ns since the epoch) of the newest sample pushed to `input`, and the count pushed.
    pub input_mark: Arc<ClockMark>,
    /// Playback time (ns since the epoch) of the next sample the output callback pops from `output`,
    /// and the count popped before it.
    pub output_mark: Arc<ClockMark>,
}

/// Liveness counters the supervisor watches: callbacks that stop coming mean a lost device.
#[derive(Debug, Default)]
pub struct CallbackCounts {
    /// Input callbacks run so far.
    pub input: AtomicU64,
    /// Output callbacks run so far.
    pub output: AtomicU64,
}

/// State of the input callback.
pub struct InputSide {
    format: DeviceFormat,
    rings: Vec<HeapProd<f32>>,
    marks: Vec<Arc<ClockMark>>,
    pushed: Vec<u64>,
    wakers: Vec<Thread>,
    tap: Option<HeapProd<f32>>,
    mono: Vec<f32>,
    /// The current batch of input blocks: capture time of its first frame, frames so far, and when
    /// its latest callback ran (ns since the epoch).
    batch: Option<InputBatch>,
    meters: Arc<LiveMeters>,
    counts: Arc<CallbackCounts>,
    epoch: Instant,
}

/// Input blocks delivered back to back (see [`INPUT_BATCH_NS`]).
#[derive(Debug, Clone, Copy)]
struct InputBatch {
    capture_ns: u64,
    frames: u64,
    callback_ns: u64,
}

/// State of the output callback.
pub struct OutputSide {
    format: DeviceFormat,
    rings: Vec<HeapCons<f32>>,
    marks: Vec<Arc<ClockMark>>,
    popped: Vec<u64>,
    tap: Option<HeapProd<f32>>,
    mono: Vec<f32>,
    discard: Vec<f32>,
    prefill: usize,
    primed: bool,
    trim: LatencyTrim,
    /// Samples to skip from every ring before the next piece (decided by `trim`).
    pending_skip: usize,
    /// What would have been played without the skip, to fade out of.
    fade: Vec<f32>,
    meters: Arc<LiveMeters>,
    counts: Arc<CallbackCounts>,
    epoch: Instant,
}

/// The consumer ends of the recording taps.
pub struct TapOutlets {
    /// Mono input as captured (input device rate), if requested.
    pub input: Option<HeapCons<f32>>,
    /// Mono output as played (output device rate), if requested.
    pub output: Option<HeapCons<f32>>,
}

fn tap_ring(samples: usize) -> (Option<HeapProd<f32>>, Option<HeapCons<f32>>) {
    if samples == 0 {
        return (None, None);
    }
    let (p, c) = HeapRb::<f32>::new(samples).split();
    (Some(p), Some(c))
}

/// Builds every ring of a pipeline with `meters.workers.len()` workers. Everything is allocated here.
pub fn connect(
    meters: Arc<LiveMeters>,
    input: DeviceFormat,
    output: DeviceFormat,
    sizes: RingSizes,
    counts: Arc<CallbackCounts>,
    epoch: Instant,
) -> (InputSide, OutputSide, Vec<WorkerPorts>, TapOutlets) {
    let n = meters.workers.len();
    let (mut in_prods, mut out_cons, mut ports) = (Vec::new(), Vec::new(), Vec::new());
    let (mut in_marks, mut out_marks) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (ip, ic) = HeapRb::<f32>::new(sizes.ring_samples).split();
        let (op, oc) = HeapRb::<f32>::new(sizes.ring_samples).split();
        let (im, om) = (Arc::new(ClockMark::new()), Arc::new(ClockMark::new()));
        in_prods.push(ip);
        out_cons.push(oc);
        in_marks.push(Arc::clone(&im));
        out_marks.push(Arc::clone(&om));
        ports.push(WorkerPorts {
            input: ic,
            output: op,
            input_mark: im,
            output_mark: om,
        });
    }
    let (in_tap, in_tap_out) = tap_ring(sizes.input_tap_samples);
    let (out_tap, out_tap_out) = tap_ring(sizes.output_tap_samples);
    let input_side = InputSide {
        format: input,
        rings: in_prods,
        marks: in_marks,
        pushed: vec![0; n],
        wakers: Vec::new(),
        tap: in_tap,
        mono: vec![0.0; MAX_PIECE_FRAMES],
        batch: None,
        meters: Arc::clone(&meters),
        counts: Arc::clone(&counts),
        epoch,
    };
    let ms = |ms: u32| (u64::from(output.rate_hz) * u64::from(ms) / 1000) as usize;
    let prefill = sizes.prefill_samples.min(sizes.ring_samples);
    let output_side = OutputSide {
        format: output,
        rings: out_cons,
        marks: out_marks,
        popped: vec![0; n],
        tap: out_tap,
        mono: vec![0.0; MAX_PIECE_FRAMES],
        discard: vec![0.0; MAX_PIECE_FRAMES],
        prefill,
        primed: false,
        trim: LatencyTrim::new(prefill, ms(TRIM_SLACK_MS), ms(TRIM_WINDOW_MS)),
        pending_skip: 0,
        fade: vec![0.0; ms(TRIM_FADE_MS).max(1)],
        meters,
        counts,
        epoch,
    };
    let taps = TapOutlets {
        input: in_tap_out,
        output: out_tap_out,
    };
    (input_side, output_side, ports, taps)
}

impl InputSide {
    /// The threads to wake after each block (the workers, in order).
    pub fn set_wakers(&mut self, wakers: Vec<Thread>) {
        self.wakers = wakers;
    }

    /// Handles one input block of interleaved frames. `capture_delay` is how long before this call
    /// the block's first frame was captured (from the host's timestamps).
    pub fn process<T>(&mut self, data: &[T], capture_delay: Duration)
    where
        T: Sample,
        f32: FromSample<T>,
    {
        self.counts.input.fetch_add(1, Ordering::Relaxed);
        let channels = self.format.channels;
        let now_ns = nanos_since(self.epoch);
        let first_capture_ns = now_ns.saturating_sub(duration_ns(capture_delay));
        self.note_capture(
            now_ns,
            first_capture_ns,
            (data.len() / channels.max(1)) as u64,
        );
        let mut offset_frames = 0u64;
        let mut any_overrun = false;
        for piece in data.chunks(MAX_PIECE_FRAMES * channels) {
            let frames = piece.len() / channels;
            let mono = &mut self.mono[..frames];
            mix_to_mono(piece, channels, mono);
            offset_frames += frames as u64;
            // Capture time of this piece's newest sample.
            let newest_ns =
                first_capture_ns + samples_to_ns(offset_frames - 1, self.format.rate_hz);
            for (w, ring) in self.rings.iter_mut().enumerate() {
                let pushed = ring.push_slice(mono);
                if pushed < frames {
                    any_overrun = true;
                    self.meters.workers[w]
                        .overruns
                        .fetch_add(1, Ordering::Relaxed);
                }
                self.pushed[w] += pushed as u64;
                self.marks[w].write(newest_ns, self.pushed[w]);
            }
            push_tap(self.tap.as_mut(), mono, &self.meters);
            self.meters.input_peak_db.store(peak_dbfs(mono));
        }
        if any_overrun {
            self.meters.input_overruns.fetch_add(1, Ordering::Relaxed);
        }
        for waker in &self.wakers {
            waker.unpark();
        }
    }

    /// Adds a block of `frames` frames, called back at `now_ns` and captured from
    /// `first_capture_ns`, to the current batch, or starts a new batch and counts an input gap when
    /// it begins later than the previous batch ended.
    fn note_capture(&mut self, now_ns: u64, first_capture_ns: u64, frames: u64) {
        match self.batch.as_mut() {
            Some(b) if now_ns.saturating_sub(b.callback_ns) < INPUT_BATCH_NS => {
                b.frames += frames;
                b.callback_ns = now_ns;
                return;
            }
            Some(b) => {
                let end_ns = b.capture_ns + samples_to_ns(b.frames, self.format.rate_hz);
                if first_capture_ns > end_ns + INPUT_GAP_NS {
                    self.meters.input_gaps.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {}
        }
        self.batch = Some(InputBatch {
            capture_ns: first_capture_ns,
            frames,
            callback_ns: now_ns,
        });
    }
}

impl OutputSide {
    /// Fills one output block of interleaved frames. `playback_delay` is how long after this call the
    /// block's first frame will be played (from the host's timestamps).
    pub fn process<T>(&mut self, data: &mut [T], playback_delay: Duration)
    where
        T: Sample + FromSample<f32>,
    {
        self.counts.output.fetch_add(1, Ordering::Relaxed);
        let channels = self.format.channels;
        let first_play_ns = nanos_since(self.epoch) + duration_ns(playback_delay);
        let active = self
            .meters
            .active_worker
            .load(Ordering::Relaxed)
            .min(self.rings.len() - 1);
        let mut offset_frames = 0u64;
        let mut underrun = false;
        for piece in data.chunks_mut(MAX_PIECE_FRAMES * channels) {
            let frames = piece.len() / channels;
            if !self.primed && self.rings[active].occupied_len() >= self.prefill {
                self.primed = true;
            }
            let faded = if self.primed {
                self.skip_surplus(active)
            } else {
                0
            };
            let mono = &mut self.mono[..frames];
            if self.primed {
                let queued = self.rings[active].occupied_len();
                let play_ns = first_play_ns + samples_to_ns(offset_frames, self.format.rate_hz);
                for (w, ring) in self.rings.iter_mut().enumerate() {
                    self.marks[w].write(play_ns, self.popped[w]);
                    let got = if w == active {
                        ring.pop_slice(mono)
                    } else {
                        ring.pop_slice(&mut self.discard[..frames])
                    };
                    self.popped[w] += got as u64;
                    if w == active && got < frames {
                        underrun = true;
                        mono[got..].fill(0.0);
                    }
                }
                cross_fade(&self.fade[..faded], mono);
                if underrun {
                    // The margin is gone (the host asked for more than was queued): wait for the
                    // prefill again rather than underrun on every later callback with no margin.
                    self.primed = false;
                    self.trim.restart();
                } else {
                    self.pending_skip = self.trim.after_piece(frames, queued);
                }
            } else {
                // Not started yet: silence, and nothing is missing.
                mono.fill(0.0);
            }
            offset_frames += frames as u64;
            push_tap(self.tap.as_mut(), mono, &self.meters);
            self.meters.output_peak_db.store(peak_dbfs(mono));
            spread_mono(mono, channels, piece);
        }
        if underrun {
            self.meters.output_underruns.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Skips the surplus `trim` asked for from every ring (so the workers stay aligned), keeping
    /// what the active ring would have played next in `fade`; returns how many samples of it to
    /// fade out of.
    fn skip_surplus(&mut self, active: usize) -> usize {
        let skip = std::mem::take(&mut self.pending_skip);
        if skip == 0 {
            return 0;
        }
        let faded = self.rings[active].peek_slice(&mut self.fade);
        for (w, ring) in self.rings.iter_mut().enumerate() {
            // Keep at least the faded samples' worth after the cut in the active ring.
            let skipped = ring.skip(skip.min(ring.occupied_len().saturating_sub(faded)));
            self.popped[w] += skipped as u64;
            if w == active && skipped > 0 {
                self.meters
                    .output_trimmed_samples
                    .fetch_add(skipped as u64, Ordering::Relaxed);
                self.meters.output_trims.fetch_add(1, Ordering::Relaxed);
            }
        }
        faded
    }

    /// Whether playback from the rings has started (the prefill was reached once).
    pub fn primed(&self) -> bool {
        self.primed
    }
}

/// Copies `mono` into a recording tap, if there is one; what does not fit is counted, not waited for.
fn push_tap(tap: Option<&mut HeapProd<f32>>, mono: &[f32], meters: &LiveMeters) {
    if let Some(tap) = tap {
        let kept = tap.push_slice(mono);
        if kept < mono.len() {
            meters
                .tap_dropped_samples
                .fetch_add((mono.len() - kept) as u64, Ordering::Relaxed);
        }
    }
}

/// Fades linearly from `from` (the samples the cut skipped) into the start of `to`.
fn cross_fade(from: &[f32], to: &mut [f32]) {
    let n = from.len().min(to.len());
    for (i, (out, old)) in to[..n].iter_mut().zip(from).enumerate() {
        let w = (i + 1) as f32 / (n + 1) as f32;
        *out = *old * (1.0 - w) + *out * w;
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Duration of `samples` samples at `rate_hz`, in ns.
pub fn samples_to_ns(samples: u64, rate_hz: u32) -> u64 {
    (u128::from(samples) * 1_000_000_000 / u128::from(rate_hz.max(1))) as u64
}
