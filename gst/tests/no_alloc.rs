//! Once caps are set, `dfn4denoise`'s streaming path (the harness pushes on this thread, so the element's
//! `transform_ip` runs here too) makes no heap allocation from Rust: buffers of odd sizes, controls
//! changed between buffers. GLib's and GStreamer's own C allocations (the harness's queue) do not go
//! through Rust's allocator and are not counted; the element's code is all Rust.
use gst::prelude::*;
use gst_check::Harness;

#[path = "../../tests/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::heap_events;

fn buffers(rate_hz: u64, channels: usize, sizes: &[usize], start: u64) -> Vec<gst::Buffer> {
    let mut pos = start;
    sizes
        .iter()
        .map(|&n| {
            let samples: Vec<u8> = (0..n * channels)
                .flat_map(|i| (((i * 7919) % 1000) as f32 / 1000.0 - 0.5).to_le_bytes())
                .collect();
            let mut b = gst::Buffer::from_mut_slice(samples);
            let buf = b.get_mut().unwrap();
            buf.set_pts(gst::ClockTime::from_nseconds(pos * 1_000_000_000 / rate_hz));
            pos += n as u64;
            b
        })
        .collect()
}

#[test]
fn the_streaming_path_never_allocates() {
    gst::init().unwrap();
    gstdfn4::plugin_register_static().unwrap();
    for (rate, channels) in [(48_000u32, 1usize), (44_100, 2)] {
        let mut h = Harness::new("dfn4denoise");
        h.set_src_caps_str(&format!(
            "audio/x-raw,format=F32LE,layout=interleaved,rate={rate},channels={channels}"
        ));
        let element = h.element().unwrap();
        // Past the start-up delay first (its buffers are trimmed).
        let warm: Vec<usize> = vec![1024; 8];
        let warm_frames: u64 = warm.iter().map(|&n| n as u64).sum();
        for b in buffers(rate.into(), channels, &warm, 0) {
            h.push(b).unwrap();
        }
        while h.try_pull().is_some() {}
        let sizes: Vec<usize> = [1, 7, 333, 480, 1023, 4097, 64, 2048]
            .iter()
            .cycle()
            .take(64)
            .copied()
            .collect();
        let mut batch = buffers(rate.into(), channels, &sizes, warm_frames);
        for round in 0..4 {
            // Controls change between rounds (setting a GObject property allocates; it is not the
            // streaming path).
            element.set_property("atten-lim-db", [100.0f32, 6.0, 0.0, 30.0][round]);
            element.set_property("post-filter", round % 2 == 1);
            element.set_property("bypass", round == 2);
            let mut chunk: Vec<gst::Buffer> = batch.drain(..16).collect();
            let mut pulled = Vec::with_capacity(16);
            let events = heap_events(|| {
                // `drain`: the Vec itself is freed after the count.
                for b in chunk.drain(..) {
                    h.push(b).unwrap();
                    pulled.push(h.pull().unwrap());
                }
            });
            assert_eq!(
                events, 0,
                "{rate} Hz, {channels} ch, round {round}: heap events"
            );
            assert_eq!(pulled.len(), 16);
        }
    }
}
