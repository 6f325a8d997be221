//! What the plugin's `run` costs in the host's audio thread: one channel at RATE_HZ (default 48000) fed
//! with noise in blocks of each PipeWire quantum (64, 128, 256, 1024 frames) for 20 s of audio; prints
//! the mean cost per 10 ms hop and the 99th, 99.9th percentile and worst `run` call against the quantum's
//! period (on a shared machine the worst case includes preemption by other processes).
//!
//! `cargo run --release -p dfn4-plugin --example run_cost [RATE_HZ]`
use std::time::Instant;

use dfn4_plugin::engine::Channel;

fn main() {
    let rate_hz: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("RATE_HZ"))
        .unwrap_or(48_000);
    let backend = dfn4_plugin::shared_backend().expect("the default backend builds");
    let seconds = 20;
    let mut state = 1u32;
    let signal: Vec<f32> = (0..rate_hz as usize * seconds)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.2
        })
        .collect();
    println!("| quantum (frames) | period (ms) | mean per hop (ms) | run p99 (ms) | run p99.9 (ms) | worst run (ms) |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for quantum in [64usize, 128, 256, 1024] {
        let mut channel = Channel::new(backend.clone(), rate_hz).expect("channel");
        let mut buf = vec![0.0f32; quantum];
        let mut times_s = Vec::with_capacity(signal.len() / quantum);
        let start = Instant::now();
        for block in signal.chunks_exact(quantum) {
            buf.copy_from_slice(block);
            let t = Instant::now();
            channel.process(&mut buf);
            times_s.push(t.elapsed().as_secs_f64());
        }
        let total_s = start.elapsed().as_secs_f64();
        let hops = (seconds * 100) as f64;
        let period_ms = quantum as f64 * 1000.0 / f64::from(rate_hz);
        times_s.sort_by(f64::total_cmp);
        let pct = |p: f64| times_s[((times_s.len() - 1) as f64 * p) as usize] * 1000.0;
        println!(
            "| {quantum} | {period_ms:.2} | {:.3} | {:.3} | {:.3} | {:.3} |",
            total_s * 1000.0 / hops,
            pct(0.99),
            pct(0.999),
            pct(1.0)
        );
    }
    println!(
        "latency: {} samples at {rate_hz} Hz",
        Channel::new(backend, rate_hz)
            .expect("channel")
            .latency_samples()
    );
}
