//! `dfn4denoise` through gstreamer-check's Harness: buffers of odd sizes in and out give the library's
//! stream, the latency query answers the library's figure, EOS drains the tail (output as long as the
//! input, timestamps continuous), a caps change from 48 to 44.1 kHz drains and restarts, flushes reset,
//! bypass and a 0 dB limit give the input back, bad properties and caps fail cleanly, and at 48 kHz the
//! output equals `dfn4 enhance` (the library's `Enhancer`) within 1e-5.
use std::path::Path;
use std::sync::{Arc, Once, OnceLock};

use dfn4::backend::registry::{self, ModelSource};
use dfn4::backend::{default_backend, AnyBackend};
use dfn4::enhance::Enhancer;
use dfn4::host::{params_for_control, HostStream};
use gst::glib;
use gst::prelude::*;
use gst_check::Harness;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstdfn4::plugin_register_static().expect("the plugin registers");
    });
}

fn backend() -> Arc<AnyBackend> {
    static BACKEND: OnceLock<Arc<AnyBackend>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            Arc::new(registry::create(default_backend(), ModelSource::Embedded).unwrap())
        })
        .clone()
}

fn caps(rate_hz: u32, channels: usize) -> String {
    // More than two channels need a channel mask in caps (0: unpositioned, as the element treats them).
    let mask = if channels > 2 {
        ",channel-mask=(bitmask)0x0"
    } else {
        ""
    };
    format!("audio/x-raw,format=F32LE,layout=interleaved,rate={rate_hz},channels={channels}{mask}")
}

fn harness(rate_hz: u32, channels: usize) -> Harness {
    init();
    let mut h = Harness::new("dfn4denoise");
    h.set_src_caps_str(&caps(rate_hz, channels));
    h
}

/// Deterministic noise plus a tone per channel, interleaved.
fn signal(rate_hz: u32, channels: usize, frames: usize) -> Vec<f32> {
    let mut state = 0x2545_f491u32;
    let mut out = Vec::with_capacity(frames * channels);
    for i in 0..frames {
        for c in 0..channels {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let noise = (state as f32 / u32::MAX as f32 - 0.5) * 0.2;
            let t = i as f32 / rate_hz as f32;
            let tone = 0.3 * (2.0 * std::f32::consts::PI * (220.0 + 110.0 * c as f32) * t).sin();
            out.push(noise + tone);
        }
    }
    out
}

fn time(frames: u64, rate_hz: u32) -> gst::ClockTime {
    gst::ClockTime::from_nseconds((u128::from(frames) * 1_000_000_000 / u128::from(rate_hz)) as u64)
}

fn buffer(samples: &[f32], pts: gst::ClockTime, frames: u64, rate_hz: u32) -> gst::Buffer {
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut buffer = gst::Buffer::from_mut_slice(bytes);
    {
        let buf = buffer.get_mut().unwrap();
        buf.set_pts(pts);
        buf.set_duration(time(frames, rate_hz));
    }
    buffer
}

fn samples(buffer: &gst::Buffer) -> Vec<f32> {
    let map = buffer.map_readable().unwrap();
    map.chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// What came out: the samples and every buffer's (pts, duration, frames).
#[derive(Default)]
struct Output {
    samples: Vec<f32>,
    buffers: Vec<(Option<gst::ClockTime>, Option<gst::ClockTime>, usize)>,
}

impl Output {
    fn pull_all(&mut self, h: &mut Harness, channels: usize) {
        while let Some(b) = h.try_pull() {
            let s = samples(&b);
            self.buffers
                .push((b.pts(), b.duration(), s.len() / channels));
            self.samples.extend(s);
        }
    }
}

/// Pushes `input` in blocks cycling through `blocks` (frames), timestamped from `start`, then EOS.
fn run_blocks(
    h: &mut Harness,
    input: &[f32],
    rate_hz: u32,
    channels: usize,
    blocks: &[usize],
    eos: bool,
) -> Output {
    let mut out = Output::default();
    let frames = input.len() / channels;
    let mut pos = 0;
    for &n in blocks.iter().cycle() {
        if pos >= frames {
            break;
        }
        let end = (pos + n).min(frames);
        let b = buffer(
            &input[pos * channels..end * channels],
            time(pos as u64, rate_hz),
            (end - pos) as u64,
            rate_hz,
        );
        assert_eq!(h.push(b), Ok(gst::FlowSuccess::Ok));
        out.pull_all(h, channels);
        pos = end;
    }
    if eos {
        assert!(h.push_event(gst::event::Eos::new()));
        out.pull_all(h, channels);
    }
    out
}

/// The library's stream on the same input, its start-up delay cut and its tail drained: what the
/// element should give.
fn reference(input: &[f32], rate_hz: u32, channels: usize, atten_db: f32) -> Vec<f32> {
    let mut host = HostStream::new(backend(), rate_hz, channels).unwrap();
    host.set_atten_control_db(atten_db);
    let latency = host.latency_samples();
    let mut all = input.to_vec();
    all.extend(std::iter::repeat_n(0.0, latency * channels));
    host.process_interleaved(&mut all).unwrap();
    all.drain(..latency * channels);
    all
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn latency_samples(rate_hz: u32) -> usize {
    HostStream::new(backend(), rate_hz, 1)
        .unwrap()
        .latency_samples()
}

#[test]
fn odd_buffer_sizes_give_the_library_stream_and_keep_their_sizes() {
    let (rate, channels) = (44_100, 2);
    let input = signal(rate, channels, 20_011);
    let blocks = [1, 7, 333, 480, 1023, 4097, 64];
    let mut h = harness(rate, channels);
    let out = run_blocks(&mut h, &input, rate, channels, &blocks, true);
    assert_eq!(
        out.samples.len(),
        input.len(),
        "output as long as the input"
    );
    let err = max_abs_diff(&out.samples, &reference(&input, rate, channels, 100.0));
    assert!(err < 1e-6, "max difference from the library {err}");
    // Every buffer keeps its size once the start-up delay is past (the first ones are cut or dropped;
    // the last is the drained tail).
    let latency = latency_samples(rate);
    let mut pos = 0usize;
    let sizes_in: Vec<usize> = blocks
        .iter()
        .cycle()
        .scan(0usize, |done, &n| {
            let n = n.min(20_011 - *done);
            *done += n;
            (n > 0).then_some(n)
        })
        .collect();
    let mut expected = Vec::new();
    for n in sizes_in {
        let skip = latency.saturating_sub(pos).min(n);
        if skip < n {
            expected.push(n - skip);
        }
        pos += n;
    }
    expected.push(latency);
    let got: Vec<usize> = out.buffers.iter().map(|b| b.2).collect();
    assert_eq!(got, expected);
}

#[test]
fn latency_query_answers_the_library_latency_at_the_negotiated_rate() {
    for rate in [48_000, 44_100, 16_000, 8_000] {
        let h = harness(rate, 1);
        let latency = latency_samples(rate);
        assert_eq!(
            h.query_latency(),
            Some(time(latency as u64, rate)),
            "{rate} Hz"
        );
    }
    // 48 kHz: 960 (the algorithm, 20 ms) + 479 frames of buffering for any buffer size.
    assert_eq!(latency_samples(48_000), 1439);
}

#[test]
fn latency_adds_to_upstream_latency() {
    let mut h = harness(48_000, 1);
    h.set_upstream_latency(gst::ClockTime::from_mseconds(5));
    assert_eq!(
        h.query_latency(),
        Some(gst::ClockTime::from_mseconds(5) + time(1439, 48_000))
    );
}

#[test]
fn eos_drains_the_tail_with_continuous_timestamps() {
    for (rate, channels, frames) in [(48_000, 1, 48_000), (44_100, 3, 12_345), (16_000, 1, 100)] {
        let input = signal(rate, channels, frames);
        let mut h = harness(rate, channels);
        let out = run_blocks(&mut h, &input, rate, channels, &[1000], true);
        assert_eq!(
            out.samples.len(),
            input.len(),
            "{rate} Hz, {channels} ch, {frames} frames"
        );
        // The first buffer out starts where the input started; each follows the last.
        let mut expected_pts = gst::ClockTime::ZERO;
        for &(pts, duration, n) in &out.buffers {
            let pts = pts.unwrap();
            assert!(
                pts.nseconds().abs_diff(expected_pts.nseconds()) <= 1,
                "pts {pts} after {expected_pts}"
            );
            assert_eq!(duration.unwrap(), time(n as u64, rate));
            expected_pts = pts + duration.unwrap();
        }
        assert!(
            expected_pts
                .nseconds()
                .abs_diff(time(frames as u64, rate).nseconds())
                <= 2
        );
        let err = max_abs_diff(&out.samples, &reference(&input, rate, channels, 100.0));
        assert!(err < 1e-6, "{err}");
    }
}

#[test]
fn renegotiation_from_48_to_44k1_drains_then_restarts() {
    let mut h = harness(48_000, 1);
    let first = signal(48_000, 1, 10_000);
    let mut out48 = run_blocks(&mut h, &first, 48_000, 1, &[777], false);
    h.set_src_caps_str(&caps(44_100, 1));
    // The 48 kHz tail was pushed before the new caps went downstream.
    out48.pull_all(&mut h, 1);
    assert_eq!(out48.samples.len(), first.len());
    let err = max_abs_diff(&out48.samples, &reference(&first, 48_000, 1, 100.0));
    assert!(err < 1e-6, "{err}");
    let mut saw_caps = false;
    while let Some(ev) = h.try_pull_event() {
        if let gst::EventView::Caps(c) = ev.view() {
            saw_caps = c.caps().structure(0).unwrap().get::<i32>("rate") == Ok(44_100);
        }
    }
    assert!(saw_caps, "the new caps went downstream");
    assert_eq!(
        h.query_latency(),
        Some(time(latency_samples(44_100) as u64, 44_100))
    );
    let second = signal(44_100, 1, 9_000);
    let out44 = run_blocks(&mut h, &second, 44_100, 1, &[441], true);
    assert_eq!(out44.samples.len(), second.len());
    // A fresh stream: as if the element had started at 44.1 kHz.
    let err = max_abs_diff(&out44.samples, &reference(&second, 44_100, 1, 100.0));
    assert!(err < 1e-6, "{err}");
}

#[test]
fn a_flush_resets_the_stream() {
    let input = signal(48_000, 2, 6_000);
    let mut h = harness(48_000, 2);
    let _ = run_blocks(&mut h, &signal(48_000, 2, 5_000), 48_000, 2, &[512], false);
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    while h.try_pull().is_some() {}
    let out = run_blocks(&mut h, &input, 48_000, 2, &[512], true);
    assert_eq!(out.samples, reference(&input, 48_000, 2, 100.0));
}

#[test]
fn bypass_gives_the_input_back_in_time() {
    // The dry delay line has exactly the latency, so the cut output is the input itself.
    let input = signal(44_100, 2, 8_000);
    let mut h = harness(44_100, 2);
    h.element().unwrap().set_property("bypass", true);
    let out = run_blocks(&mut h, &input, 44_100, 2, &[300], true);
    assert_eq!(out.samples, input);
}

#[test]
fn a_zero_db_limit_gives_the_input_back_at_48k() {
    let input = signal(48_000, 1, 8_000);
    let mut h = harness(48_000, 1);
    h.element().unwrap().set_property("atten-lim-db", 0.0f32);
    let out = run_blocks(&mut h, &input, 48_000, 1, &[300], true);
    let err = max_abs_diff(&out.samples, &input);
    assert!(err < 1e-5, "{err}");
}

#[test]
fn bypass_switched_while_playing_crossfades_without_a_jump() {
    let input = signal(48_000, 1, 24_000);
    let mut h = harness(48_000, 1);
    let mut out = run_blocks(&mut h, &input[..12_000], 48_000, 1, &[480], false);
    h.element().unwrap().set_property("bypass", true);
    let rest = run_blocks(&mut h, &input[12_000..], 48_000, 1, &[480], true);
    out.samples.extend(rest.samples);
    assert_eq!(out.samples.len(), input.len());
    // The last hop is pure bypass: the input itself, at its own time.
    assert_eq!(out.samples[23_000..], input[23_000..]);
    let jump = out
        .samples
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max);
    let input_jump = input
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max);
    assert!(
        jump <= input_jump * 1.5,
        "jump {jump} vs the input's {input_jump}"
    );
}

#[test]
fn properties_read_back_with_their_defaults_and_ranges() {
    init();
    let e = gst::ElementFactory::make("dfn4denoise").build().unwrap();
    assert_eq!(e.property::<f32>("atten-lim-db"), 100.0);
    assert!(!e.property::<bool>("post-filter"));
    assert!(!e.property::<bool>("bypass"));
    assert_eq!(e.property::<String>("backend"), default_backend());
    let pspec = e.find_property("atten-lim-db").unwrap();
    let pspec = pspec.downcast_ref::<glib::ParamSpecFloat>().unwrap();
    assert_eq!((pspec.minimum(), pspec.maximum()), (0.0, 100.0));
    e.set_property("atten-lim-db", 12.5f32);
    e.set_property("post-filter", true);
    e.set_property("backend", "native");
    assert_eq!(e.property::<f32>("atten-lim-db"), 12.5);
    assert!(e.property::<bool>("post-filter"));
    assert_eq!(e.property::<String>("backend"), "native");
}

/// Runs a short pipeline (`gst-launch-1.0` syntax); its first error, if any.
fn pipeline_error(description: &str) -> Option<String> {
    init();
    let pipeline = match gst::parse::launch(description) {
        Ok(p) => p,
        // Caps that cannot link to the element fail already here.
        Err(e) => return Some(e.to_string()),
    };
    let bus = pipeline.bus().unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let mut error = None;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(20)) {
        match msg.view() {
            gst::MessageView::Error(e) => {
                error = Some(e.error().to_string());
                break;
            }
            gst::MessageView::Eos(_) => break,
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    error
}

#[test]
fn an_unknown_or_uncompiled_backend_fails_the_start_with_the_registry_error() {
    let err = pipeline_error(
        "audiotestsrc num-buffers=3 ! audio/x-raw,format=F32LE ! dfn4denoise backend=nope ! fakesink",
    )
    .expect("an error");
    assert!(err.contains("backend \"nope\""), "{err}");
    assert!(err.contains("unknown backend"), "{err}");
    assert!(err.contains("native-f16"), "the names available: {err}");
    if !registry::compiled_names().contains(&"tch-cpu") {
        let err = pipeline_error(
            "audiotestsrc num-buffers=3 ! audio/x-raw,format=F32LE ! dfn4denoise backend=tch-cpu ! fakesink",
        )
        .expect("an error");
        assert!(err.contains("not compiled into this build"), "{err}");
    }
    // Every compiled-in, usable backend runs.
    assert_eq!(
        pipeline_error(
            "audiotestsrc num-buffers=3 ! audio/x-raw,format=F32LE ! dfn4denoise backend=native-i8 ! fakesink"
        ),
        None
    );
}

#[test]
fn caps_outside_the_range_are_refused() {
    for bad in [
        "audio/x-raw,format=F32LE,layout=interleaved,rate=4000,channels=1",
        "audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=300",
        "audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=1",
    ] {
        let err = pipeline_error(&format!(
            "audiotestsrc num-buffers=3 ! capsfilter caps=\"{bad}\" ! dfn4denoise ! fakesink"
        ));
        assert!(err.is_some(), "{bad} was accepted");
    }
}

fn fixture(name: &str) -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets")
        .join(name);
    let mut reader = hound::WavReader::open(path).unwrap();
    assert_eq!(reader.spec().sample_rate, 48_000);
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

#[test]
fn at_48k_the_output_equals_enhance() {
    let input = fixture("noisy_speech.wav");
    let mut h = harness(48_000, 1);
    let out = run_blocks(&mut h, &input, 48_000, 1, &[1000, 333, 4096], true);
    let enhancer = Enhancer::new(backend(), params_for_control(100.0)).unwrap();
    let expected = enhancer.enhance(&[&input], 48_000).unwrap().remove(0);
    let err = max_abs_diff(&out.samples, &expected);
    assert!(err < 1e-5, "max difference from enhance {err}");
}
