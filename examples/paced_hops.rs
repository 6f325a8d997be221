//! Compute time of one `Denoiser::process_frame` when hops come back to back (as in `dfn4 bench`) and
//! when they come in real time, one every 10 ms (as in `dfn4 live`), for the native backend with `f32`,
//! half-float and 8-bit weights.
//!
//! A step streams the dense weights (9.7 MB in `f32`) through the cache; between real-time hops other
//! work evicts them, so a live hop reads them from memory and takes longer than a back-to-back one.
//! Idle waiting (sleep) and busy waiting (spin) are both measured, to tell cache eviction from CPU
//! frequency or wake-up effects.
//!
//! `cargo run --release --example paced_hops [HOPS]` (default 300 hops per measurement).
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dfn4::backend::native::{NativeBackend, WeightPrecision};
use dfn4::config::HOP_SIZE;
use dfn4::denoiser::{DenoiseParams, Denoiser};
use dfn4::model::embedded;

/// How the next hop is waited for.
#[derive(Clone, Copy, Debug)]
enum Pacing {
    BackToBack,
    Sleep10Ms,
    Spin10Ms,
}

fn wait(pacing: Pacing) {
    let hop = Duration::from_millis(10);
    match pacing {
        Pacing::BackToBack => {}
        Pacing::Sleep10Ms => std::thread::sleep(hop),
        Pacing::Spin10Ms => {
            let start = Instant::now();
            while start.elapsed() < hop {
                std::hint::spin_loop();
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let hops: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 300,
    };
    let weights = embedded::load()?;
    // The asset, so the recurrent state sees speech and noise.
    let audio = dfn4::audio_io::read_wav(Path::new("assets/noisy_speech.wav"))?;
    let frames: Vec<[f32; HOP_SIZE]> = audio.channels[0]
        .chunks_exact(HOP_SIZE)
        .map(|h| h.try_into().expect("exact chunks"))
        .collect();
    println!("per-hop compute, median over {hops} hops (ms)");
    println!(
        "{:<12} {:>12} {:>12} {:>12}",
        "backend", "back-to-back", "sleep 10 ms", "spin 10 ms"
    );
    for precision in [
        WeightPrecision::F32,
        WeightPrecision::F16,
        WeightPrecision::I8,
    ] {
        let backend = Arc::new(NativeBackend::with_precision(&weights, precision)?);
        let name = dfn4::backend::Backend::name(backend.as_ref());
        let mut denoiser = Denoiser::new(backend, DenoiseParams::default())?;
        let mut out = [0.0f32; HOP_SIZE];
        let mut medians = Vec::new();
        for pacing in [Pacing::BackToBack, Pacing::Sleep10Ms, Pacing::Spin10Ms] {
            let mut times_ms = Vec::with_capacity(hops);
            for t in 0..hops {
                wait(pacing);
                let start = Instant::now();
                denoiser.process_frame(&frames[t % frames.len()], &mut out)?;
                times_ms.push(start.elapsed().as_secs_f64() * 1e3);
            }
            times_ms.sort_by(f64::total_cmp);
            medians.push(times_ms[hops / 2]);
        }
        println!(
            "{name:<12} {:>12.3} {:>12.3} {:>12.3}",
            medians[0], medians[1], medians[2]
        );
    }
    Ok(())
}
