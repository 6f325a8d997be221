//! The `dfn4denoise` subclass: an in-place AudioFilter over [`HostStream`].
//!
//! Timing: the library delays the signal by [`HostStream::latency_samples`] (`L`). The element keeps
//! every sample's timestamp honest instead of passing the delay on in the content: the first `L` frames
//! out of a fresh stream (the library's start-up zeros) are cut off the buffers, every buffer's
//! timestamp is moved `L` frames earlier (to the time its content was captured), and the latency query
//! adds `L` frames, so a sink waits for the content rather than playing it late. At EOS (and before a
//! caps change) the last `L` frames are pushed out by feeding `L` frames of silence: the output has
//! exactly as many frames as the input, sample-aligned with it, which at 48 kHz is `dfn4 enhance`'s
//! output. Flushes and caps changes start a fresh stream.
//!
//! Real time: once caps are set, `transform_ip` only locks the element's state (uncontended except
//! against property queries), reads the controls from atomics and processes the buffer's memory in
//! place; it never allocates (gst/tests/no_alloc.rs). Only the first `L` frames of a stream may make
//! GStreamer copy a shared memory when the buffer is trimmed.
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dfn4::backend::registry::{self, default_backend};
use dfn4::backend::AnyBackend;
use dfn4::config::MAX_CHANNELS;
use dfn4::dsp::deep_filter::ATTEN_LIM_UNLIMITED_DB;
use dfn4::host::HostStream;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_audio::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_transform::BaseTransformMode;

/// The rates the element offers (the library accepts a wider range; these cover real streams).
const MIN_RATE_HZ: i32 = 8_000;
const MAX_RATE_HZ: i32 = 192_000;
/// Samples converted at a time when a buffer's memory is not aligned for `f32` (rare: a trimmed or
/// sub-buffer); the scratch is sized once per caps.
const UNALIGNED_CHUNK: usize = 4096;

static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "dfn4denoise",
        gst::DebugColorFlags::empty(),
        Some("dfn4 speech denoiser"),
    )
});

/// Controls the streaming thread reads without a lock.
struct Controls {
    atten_lim_db: AtomicU32,
    post_filter: AtomicBool,
    bypass: AtomicBool,
}

impl Controls {
    fn atten_lim_db(&self) -> f32 {
        f32::from_bits(self.atten_lim_db.load(Ordering::Relaxed))
    }
}

impl Default for Controls {
    fn default() -> Self {
        Self {
            atten_lim_db: AtomicU32::new(ATTEN_LIM_UNLIMITED_DB.to_bits()),
            post_filter: AtomicBool::new(false),
            bypass: AtomicBool::new(false),
        }
    }
}

/// One negotiated stream: the library's glue at the caps' rate and channels, and the frame counts
/// that place the output in time.
struct Stream {
    host: HostStream,
    rate_hz: u32,
    channels: usize,
    latency_samples: usize,
    /// Frames processed since the last reset (the first `latency_samples` of output are cut).
    frames_in: u64,
    /// Where the last input buffer ended (the drained silence's timestamp).
    in_end: Option<gst::ClockTime>,
    /// Samples of an unaligned buffer, converted a chunk at a time.
    scratch: Vec<f32>,
}

impl Stream {
    fn new(backend: Arc<AnyBackend>, rate_hz: u32, channels: usize) -> dfn4::Result<Self> {
        let host = HostStream::new(backend, rate_hz, channels)?;
        Ok(Self {
            latency_samples: host.latency_samples(),
            host,
            rate_hz,
            channels,
            frames_in: 0,
            in_end: None,
            scratch: vec![0.0; UNALIGNED_CHUNK * channels],
        })
    }

    fn reset(&mut self) {
        self.host.reset();
        self.frames_in = 0;
        self.in_end = None;
    }

    /// Applies the controls that changed (each setter is cheap when nothing changed, but the
    /// comparisons keep even that off the path).
    fn apply(&mut self, controls: &Controls) {
        let atten = controls.atten_lim_db();
        if atten.to_bits() != self.host.atten_control_db().to_bits() {
            self.host.set_atten_control_db(atten);
        }
        let post_filter = controls.post_filter.load(Ordering::Relaxed);
        if post_filter != self.host.post_filter() {
            self.host.set_post_filter(post_filter);
        }
        let bypass = controls.bypass.load(Ordering::Relaxed);
        if bypass != self.host.bypass() {
            self.host.set_bypass(bypass);
        }
    }

    /// Denoises interleaved F32LE bytes in place (a whole number of frames); the frame count.
    fn process_bytes(&mut self, bytes: &mut [u8]) -> Result<usize, String> {
        let frame_bytes = 4 * self.channels;
        if !bytes.len().is_multiple_of(frame_bytes) {
            return Err(format!(
                "a buffer of {} bytes is not a whole number of {}-channel F32 frames",
                bytes.len(),
                self.channels
            ));
        }
        // SAFETY: every bit pattern is a valid f32; `align_to_mut` gives only aligned middle parts.
        let (head, samples, _) = unsafe { bytes.align_to_mut::<f32>() };
        if head.is_empty() && cfg!(target_endian = "little") {
            // The usual case: GStreamer's memory is aligned, and F32LE is the native float.
            self.host
                .process_interleaved(samples)
                .map_err(|e| e.to_string())?;
        } else {
            let chunk_bytes = self.scratch.len() * 4;
            for chunk in bytes.chunks_mut(chunk_bytes) {
                let scratch = &mut self.scratch[..chunk.len() / 4];
                for (s, b) in scratch.iter_mut().zip(chunk.chunks_exact(4)) {
                    *s = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
                self.host
                    .process_interleaved(scratch)
                    .map_err(|e| e.to_string())?;
                for (s, b) in scratch.iter().zip(chunk.chunks_exact_mut(4)) {
                    b.copy_from_slice(&s.to_le_bytes());
                }
            }
        }
        Ok(bytes.len() / frame_bytes)
    }

    /// After `frames` more frames stamped `pts` were processed: how many leading frames of that output
    /// are start-up delay to cut.
    fn advance(&mut self, frames: usize, pts: Option<gst::ClockTime>) -> usize {
        let before = self.frames_in;
        self.frames_in += frames as u64;
        self.in_end = pts.map(|pts| pts + self.frames_to_time(frames as u64));
        (self.latency_samples as u64)
            .saturating_sub(before)
            .min(frames as u64) as usize
    }

    fn frames_to_time(&self, frames: u64) -> gst::ClockTime {
        let ns = u128::from(frames) * 1_000_000_000 / u128::from(self.rate_hz);
        gst::ClockTime::from_nseconds(ns as u64)
    }

    fn latency(&self) -> gst::ClockTime {
        self.frames_to_time(self.latency_samples as u64)
    }

    /// Trims the `skip` start-up frames off `buf` (which holds `frames`) and moves its timestamp to its
    /// content's capture time.
    fn place(&self, buf: &mut gst::BufferRef, frames: usize, skip: usize) {
        let frame_bytes = 4 * self.channels;
        if skip > 0 {
            // Cannot fail: the range lies inside the buffer.
            let _ = buf.resize(skip * frame_bytes..frames * frame_bytes);
        }
        let pts = buf
            .pts()
            .map(|pts| (pts + self.frames_to_time(skip as u64)).saturating_sub(self.latency()));
        buf.set_pts(pts);
        buf.set_duration(self.frames_to_time((frames - skip) as u64));
        buf.set_offset(gst::format::Buffers::OFFSET_NONE);
        buf.set_offset_end(gst::format::Buffers::OFFSET_NONE);
    }
}

/// Everything between `start` and `stop`.
struct State {
    backend: Arc<AnyBackend>,
    stream: Option<Stream>,
}

/// The element (see the module).
pub struct Dfn4Denoise {
    controls: Controls,
    backend_name: Mutex<String>,
    state: Mutex<Option<State>>,
}

impl Default for Dfn4Denoise {
    fn default() -> Self {
        Self {
            controls: Controls::default(),
            backend_name: Mutex::new(default_backend().to_owned()),
            state: Mutex::new(None),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Dfn4Denoise {
    /// Pushes the last `latency_samples` frames of the stream (silence fed through) and resets it, so
    /// the output is as long as the input. Called at EOS and before a caps change, on the streaming
    /// thread; it allocates one buffer.
    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let buffer = {
            let mut state = lock(&self.state);
            let Some(stream) = state.as_mut().and_then(|s| s.stream.as_mut()) else {
                return Ok(gst::FlowSuccess::Ok);
            };
            if stream.frames_in == 0 {
                return Ok(gst::FlowSuccess::Ok);
            }
            let frames = stream.latency_samples;
            let mut buffer = gst::Buffer::with_size(frames * 4 * stream.channels)
                .map_err(|_| gst::FlowError::Error)?;
            {
                let buf = buffer.get_mut().ok_or(gst::FlowError::Error)?;
                {
                    let mut map = buf.map_writable().map_err(|_| gst::FlowError::Error)?;
                    map.as_mut_slice().fill(0);
                    stream
                        .process_bytes(map.as_mut_slice())
                        .map_err(|_| gst::FlowError::Error)?;
                }
                let pts = stream.in_end;
                let skip = stream.advance(frames, pts);
                if skip == frames {
                    // Shorter than the latency: everything out was start-up delay.
                    stream.reset();
                    return Ok(gst::FlowSuccess::Ok);
                }
                // The silence follows the input; `place` moves it back to its content's time.
                buf.set_pts(pts);
                stream.place(buf, frames, skip);
            }
            stream.reset();
            buffer
        };
        gst::debug!(CAT, imp = self, "draining {} bytes", buffer.size());
        self.obj().src_pad().push(buffer)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for Dfn4Denoise {
    const NAME: &'static str = "GstDfn4Denoise";
    type Type = super::Dfn4Denoise;
    type ParentType = gst_audio::AudioFilter;
}

impl ObjectImpl for Dfn4Denoise {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: std::sync::LazyLock<Vec<glib::ParamSpec>> = std::sync::LazyLock::new(
            || {
                let backends = registry::compiled_names().join(", ");
                vec![
                    glib::ParamSpecFloat::builder("atten-lim-db")
                        .nick("Attenuation limit (dB)")
                        .blurb(
                            "How far noise is lowered at most, in dB (as `dfn4 enhance --atten-lim-db`): \
                             0 = no denoising, 100 = unlimited; applied from the next 10 ms hop",
                        )
                        .minimum(0.0)
                        .maximum(ATTEN_LIM_UNLIMITED_DB)
                        .default_value(ATTEN_LIM_UNLIMITED_DB)
                        .mutable_playing()
                        .controllable()
                        .build(),
                    glib::ParamSpecBoolean::builder("post-filter")
                        .nick("Post-filter")
                        .blurb("Extra attenuation of noise-dominated bands (DeepFilterNet's post-filter)")
                        .default_value(false)
                        .mutable_playing()
                        .controllable()
                        .build(),
                    glib::ParamSpecString::builder("backend")
                        .nick("Backend")
                        .blurb(&format!(
                            "Inference backend, by the registry's name (compiled in: {backends}); \
                             an unknown or unavailable one fails the element's start. {}",
                            registry::default_backend_rule()
                        ))
                        .default_value(Some(default_backend()))
                        .mutable_ready()
                        .build(),
                    glib::ParamSpecBoolean::builder("bypass")
                        .nick("Bypass")
                        .blurb(
                            "Pass the input through, delayed like the denoised signal and crossfaded \
                             over 10 ms (no click, no jump in time)",
                        )
                        .default_value(false)
                        .mutable_playing()
                        .controllable()
                        .build(),
                ]
            },
        );
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "atten-lim-db" => {
                let db: f32 = value.get().expect("type checked upstream");
                self.controls
                    .atten_lim_db
                    .store(db.to_bits(), Ordering::Relaxed);
            }
            "post-filter" => self.controls.post_filter.store(
                value.get().expect("type checked upstream"),
                Ordering::Relaxed,
            ),
            "bypass" => self.controls.bypass.store(
                value.get().expect("type checked upstream"),
                Ordering::Relaxed,
            ),
            "backend" => {
                let name: Option<String> = value.get().expect("type checked upstream");
                *lock(&self.backend_name) = name.unwrap_or_else(|| default_backend().to_owned());
            }
            _ => unreachable!("no property {}", pspec.name()),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "atten-lim-db" => self.controls.atten_lim_db().to_value(),
            "post-filter" => self.controls.post_filter.load(Ordering::Relaxed).to_value(),
            "bypass" => self.controls.bypass.load(Ordering::Relaxed).to_value(),
            "backend" => lock(&self.backend_name).to_value(),
            _ => unreachable!("no property {}", pspec.name()),
        }
    }
}

impl GstObjectImpl for Dfn4Denoise {}

impl ElementImpl for Dfn4Denoise {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: std::sync::LazyLock<gst::subclass::ElementMetadata> =
            std::sync::LazyLock::new(|| {
                gst::subclass::ElementMetadata::new(
                    "dfn4 speech denoiser",
                    "Filter/Effect/Audio",
                    "Removes noise from speech with dfn4 (DeepFilterNet4): F32 interleaved, any \
                     channel count, 8 to 192 kHz; reports its latency and drains its tail at EOS",
                    "dfn4 developers",
                )
            });
        Some(&*METADATA)
    }
}

impl BaseTransformImpl for Dfn4Denoise {
    const MODE: BaseTransformMode = BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let name = lock(&self.backend_name).clone();
        let backend = crate::shared_backend(&name).map_err(|e| {
            gst::error_msg!(
                gst::LibraryError::Settings,
                ("dfn4denoise: backend \"{}\" cannot run: {}", name, e)
            )
        })?;
        gst::debug!(
            CAT,
            imp = self,
            "started with backend {}",
            dfn4::backend::Backend::name(&*backend)
        );
        *lock(&self.state) = Some(State {
            backend,
            stream: None,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = None;
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Eos(_) => {
                if let Err(e) = self.drain() {
                    gst::debug!(CAT, imp = self, "draining at EOS: {e:?}");
                }
            }
            gst::EventView::Caps(c) => {
                // A new format: the old stream's tail goes out first, with the old caps.
                let current = self.obj().sink_pad().current_caps();
                if current.as_ref() != Some(&c.caps_owned()) {
                    if let Err(e) = self.drain() {
                        gst::debug!(CAT, imp = self, "draining before new caps: {e:?}");
                    }
                }
            }
            gst::EventView::FlushStop(_) => {
                if let Some(stream) = lock(&self.state).as_mut().and_then(|s| s.stream.as_mut()) {
                    stream.reset();
                }
            }
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        if direction == gst::PadDirection::Src {
            if let gst::QueryViewMut::Latency(q) = query.view_mut() {
                let mut upstream = gst::query::Latency::new();
                if !self.obj().sink_pad().peer_query(&mut upstream) {
                    return false;
                }
                let (live, min, max) = upstream.result();
                let ours = lock(&self.state)
                    .as_ref()
                    .and_then(|s| s.stream.as_ref())
                    .map_or(gst::ClockTime::ZERO, Stream::latency);
                gst::debug!(CAT, imp = self, "latency {ours} on top of {min}");
                q.set(live, min + ours, max.opt_add(ours));
                return true;
            }
        }
        BaseTransformImplExt::parent_query(self, direction, query)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state = lock(&self.state);
        let Some(stream) = state.as_mut().and_then(|s| s.stream.as_mut()) else {
            return Err(gst::FlowError::NotNegotiated);
        };
        stream.apply(&self.controls);
        let processed = match buf.map_writable() {
            Ok(mut map) => stream.process_bytes(map.as_mut_slice()),
            Err(_) => Err("the buffer cannot be mapped for writing".to_owned()),
        };
        let frames = match processed {
            Ok(frames) => frames,
            Err(msg) => {
                drop(state);
                gst::element_imp_error!(self, gst::StreamError::Format, ["{}", msg]);
                return Err(gst::FlowError::Error);
            }
        };
        let skip = stream.advance(frames, buf.pts());
        if skip == frames {
            return Ok(gst_base::BASE_TRANSFORM_FLOW_DROPPED);
        }
        stream.place(buf, frames, skip);
        Ok(gst::FlowSuccess::Ok)
    }
}

impl AudioFilterImpl for Dfn4Denoise {
    /// The pad templates' caps (AudioFilter adds both templates from them).
    fn allowed_caps() -> &'static gst::Caps {
        static CAPS: std::sync::LazyLock<gst::Caps> = std::sync::LazyLock::new(|| {
            gst_audio::AudioCapsBuilder::new_interleaved()
                .format(gst_audio::AudioFormat::F32le)
                .rate_range(MIN_RATE_HZ..=MAX_RATE_HZ)
                .channels_range(1..=MAX_CHANNELS as i32)
                .build()
        });
        &CAPS
    }

    fn setup(&self, info: &gst_audio::AudioInfo) -> Result<(), gst::LoggableError> {
        let rate_hz = info.rate();
        let channels = info.channels() as usize;
        let latency_changed = {
            let mut guard = lock(&self.state);
            let state = guard
                .as_mut()
                .ok_or_else(|| gst::loggable_error!(CAT, "caps before start"))?;
            match state.stream.as_mut() {
                Some(s) if s.rate_hz == rate_hz && s.channels == channels => {
                    s.reset();
                    false
                }
                _ => {
                    let old = state.stream.as_ref().map(Stream::latency);
                    let mut stream = Stream::new(Arc::clone(&state.backend), rate_hz, channels)
                        .map_err(|e| gst::loggable_error!(CAT, "dfn4denoise: {}", e))?;
                    stream.apply(&self.controls);
                    gst::debug!(
                        CAT,
                        imp = self,
                        "{channels} channels at {rate_hz} Hz: latency {} frames",
                        stream.latency_samples
                    );
                    let changed = old != Some(stream.latency());
                    state.stream = Some(stream);
                    changed
                }
            }
        };
        if latency_changed {
            // Pipelines query again and reconfigure their sinks.
            let _ = self
                .obj()
                .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        }
        self.parent_setup(info)
    }
}
