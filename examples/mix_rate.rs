//! How fast the trainer's data mixing runs on this machine: loads a trainer corpus (`manifest.json`)
//! and mixes training batches as the trainer's producer thread does, printing examples per second.
//! For profiling the CPU side of training without a GPU:
//! `cargo run --release --features train --example mix_rate -- CORPUS [BATCH] [BATCHES] [SECONDS]
//! [SPEED_PERTURB_PROB SPEED_PERTURB_MAX]` (the last two as `train --speed-perturb-prob/-max`; default the
//! recipe's 0.5 and 0.15).
use std::time::Instant;

use dfn4::train::corpus::Corpus;
use dfn4::train::mix::{make_batch, MixConfig, Split};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let corpus_dir = args.next().ok_or(
        "usage: mix_rate CORPUS [BATCH] [BATCHES] [SECONDS] [SPEED_PERTURB_PROB SPEED_PERTURB_MAX]",
    )?;
    let batch: usize = args.next().map_or(Ok(64), |s| s.parse())?;
    let batches: u64 = args.next().map_or(Ok(4), |s| s.parse())?;
    let seconds: f32 = args.next().map_or(Ok(3.0), |s| s.parse())?;
    let mut mix = MixConfig::new(seconds);
    if let Some(p) = args.next() {
        mix.speed_perturb_prob = p.parse()?;
        mix.speed_perturb_max = args.next().ok_or("SPEED_PERTURB_MAX missing")?.parse()?;
    }
    let t0 = Instant::now();
    let corpus = Corpus::load(std::path::Path::new(&corpus_dir))?;
    println!("corpus loaded in {:.1} s", t0.elapsed().as_secs_f64());
    let t0 = Instant::now();
    for step in 0..batches {
        std::hint::black_box(make_batch(&corpus, Split::Train, &mix, 42, step, batch));
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "{} examples of {seconds} s in {s:.2} s: {:.1} examples/s on {} threads \
         (speed perturbation {} of examples, up to {})",
        batch as u64 * batches,
        (batch as u64 * batches) as f64 / s,
        rayon::current_num_threads(),
        mix.speed_perturb_prob,
        mix.speed_perturb_max
    );
    Ok(())
}
