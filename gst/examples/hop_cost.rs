//! What `dfn4denoise` costs per 10 ms hop, side by side with the library's [`HostStream`] alone (what
//! the LADSPA plugin's `run` is): one channel at 48 kHz, 20 s of noise in buffers of each quantum (64,
//! 128, 256, 1024 frames), pushed through a gst_check Harness (the element's `transform_ip` runs on this
//! thread, with GStreamer's pad, event and buffer machinery around it). Prints the mean cost per hop.
//!
//! `cargo run --release -p dfn4-gst --example hop_cost` (pin it with `taskset -c 0`)
use std::sync::Arc;
use std::time::Instant;

use dfn4::backend::default_backend;
use dfn4::backend::registry::{self, ModelSource};
use dfn4::host::HostStream;
use gst_check::Harness;

const RATE_HZ: u32 = 48_000;
const SECONDS: usize = 20;

fn main() {
    gst::init().expect("GStreamer initialises");
    gstdfn4::plugin_register_static().expect("the plugin registers");
    let backend =
        Arc::new(registry::create(default_backend(), ModelSource::Embedded).expect("backend"));
    let mut state = 1u32;
    let signal: Vec<f32> = (0..RATE_HZ as usize * SECONDS)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.2
        })
        .collect();
    let hops = (SECONDS * 100) as f64;
    println!("| quantum (frames) | HostStream per hop (ms) | dfn4denoise per hop (ms) | ratio |");
    println!("| ---: | ---: | ---: | ---: |");
    for quantum in [64usize, 128, 256, 1024] {
        let mut host = HostStream::new(Arc::clone(&backend), RATE_HZ, 1).expect("stream");
        let mut buf = vec![0.0f32; quantum];
        let start = Instant::now();
        for block in signal.chunks_exact(quantum) {
            buf.copy_from_slice(block);
            host.process_interleaved(&mut buf).expect("whole frames");
        }
        let host_ms = start.elapsed().as_secs_f64() * 1000.0 / hops;

        let mut h = Harness::new("dfn4denoise");
        h.set_src_caps_str(&format!(
            "audio/x-raw,format=F32LE,layout=interleaved,rate={RATE_HZ},channels=1"
        ));
        // Buffers made beforehand: the harness measures the element, not the source.
        let buffers: Vec<gst::Buffer> = signal
            .chunks_exact(quantum)
            .enumerate()
            .map(|(i, block)| {
                let bytes: Vec<u8> = block.iter().flat_map(|s| s.to_le_bytes()).collect();
                let mut b = gst::Buffer::from_mut_slice(bytes);
                let pts = (i * quantum) as u64 * 1_000_000_000 / u64::from(RATE_HZ);
                b.get_mut()
                    .expect("fresh")
                    .set_pts(gst::ClockTime::from_nseconds(pts));
                b
            })
            .collect();
        let start = Instant::now();
        for b in buffers {
            h.push(b).expect("flow");
            while h.try_pull().is_some() {}
        }
        let gst_ms = start.elapsed().as_secs_f64() * 1000.0 / hops;
        println!(
            "| {quantum} | {host_ms:.3} | {gst_ms:.3} | {:.2} |",
            gst_ms / host_ms
        );
    }
}
