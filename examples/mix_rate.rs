//! How fast the trainer's data mixing runs on this machine: loads a trainer corpus (`manifest.json`)
//! and mixes training batches as the trainer's producer thread does, printing examples per second.
//! For profiling the CPU side of training without a GPU:
//! `cargo run --release --features train --example mix_rate -- CORPUS [BATCH] [BATCHES] [SECONDS]
//! [SPEED_PERTURB_PROB SPEED_PERTURB_MAX]` (the last two as `train --speed-perturb-prob/-max`; default the
//! recipe's 0.5 and 0.15).
//!
//! Batches come from the trainer's producers (`train::stream`): `RAYON_NUM_THREADS` of them (as in earlier
//! measurements), else one per core; each mixes whole batches.
//!
//! `CORPUS` = `synthetic` mixes from a corpus made up here instead, of random signals shaped like corpus
//! v3's training split (clip lengths, bandwidths, room-response lengths; figures in `synthetic_corpus`),
//! so that the rate can be measured on any machine without the corpus. A mixture's cost depends on those
//! shapes, not on what the signals hold.
use std::time::Instant;

use dfn4::train::corpus::{Clip, Corpus};
use dfn4::train::mix::MixConfig;
use dfn4::train::stream::BatchStream;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const RATE_HZ: f32 = 48_000.0;

/// `count` clips of log-uniform length within `seconds`, each with a band drawn from `bands`
/// (`(band_hz, share)`), holding white noise at about unit RMS.
fn clips(
    rng: &mut SmallRng,
    count: usize,
    seconds: (f32, f32),
    bands: &[(f32, f64)],
    source: &str,
) -> Vec<Clip> {
    (0..count)
        .map(|i| {
            let len_s = (rng.random_range(seconds.0.ln()..seconds.1.ln())).exp();
            let mut r = rng.random_range(0.0..bands.iter().map(|b| b.1).sum::<f64>());
            let band_hz = bands
                .iter()
                .find(|b| {
                    r -= b.1;
                    r < 0.0
                })
                .map_or(RATE_HZ / 2.0, |b| b.0);
            Clip {
                samples: (0..(len_s * RATE_HZ) as usize)
                    .map(|_| rng.random_range(-1.7f32..1.7))
                    .collect(),
                band_hz,
                // A few sources, so that `--speech-source-exponent` has something to draw.
                source: format!("{source}-{}", i % 8),
            }
        })
        .collect()
}

/// Room responses of 0.18–1.0 s: a direct-path peak after 0–5 ms, then a decaying noise tail.
fn rooms(rng: &mut SmallRng, count: usize) -> Vec<Clip> {
    (0..count)
        .map(|_| {
            let len = (rng.random_range(0.18f32..1.0) * RATE_HZ) as usize;
            let delay = rng.random_range(0..240);
            let decay_per_sample = rng.random_range(5.0f32..30.0) / RATE_HZ;
            let samples = (0..len)
                .map(|n| match n.cmp(&delay) {
                    std::cmp::Ordering::Less => 0.0,
                    std::cmp::Ordering::Equal => 1.0,
                    std::cmp::Ordering::Greater => {
                        0.3 * rng.random_range(-1.0f32..1.0)
                            * (-decay_per_sample * (n - delay) as f32).exp()
                    }
                })
                .collect();
            Clip {
                samples,
                band_hz: RATE_HZ / 2.0,
                source: "rooms".into(),
            }
        })
        .collect()
}

/// A corpus shaped like corpus v3's training split (`data/manifest.tsv`, train rows): speech clips of
/// 0.3–4 s (median 1.3 s there), most of them band-limited (16 kHz band 49 %, 11 kHz 22 %, 8 kHz 18 %,
/// narrower 7 %, full 4 %); noise clips of 0.25–6 s (median 1.0 s), music of about a minute, rooms of
/// 0.18–1.0 s. Smaller than the real one (memory), which does not change the cost of a mixture.
fn synthetic_corpus() -> Corpus {
    let mut rng = SmallRng::seed_from_u64(2026);
    let speech_bands = [
        (24_000.0, 0.04),
        (16_000.0, 0.49),
        (11_000.0, 0.22),
        (8_000.0, 0.18),
        (6_000.0, 0.05),
        (4_000.0, 0.02),
    ];
    let noise_bands = [
        (24_000.0, 0.45),
        (16_000.0, 0.24),
        (11_000.0, 0.16),
        (8_000.0, 0.03),
        (6_000.0, 0.07),
        (4_000.0, 0.05),
    ];
    let mut corpus = Corpus {
        speech_train: clips(&mut rng, 1_500, (0.3, 4.0), &speech_bands, "speech"),
        speech_dev: clips(&mut rng, 50, (0.3, 4.0), &speech_bands, "speech-dev"),
        noise_train: clips(&mut rng, 600, (0.25, 6.0), &noise_bands, "noise"),
        noise_dev: clips(&mut rng, 20, (0.25, 6.0), &noise_bands, "noise-dev"),
        music_train: clips(&mut rng, 12, (40.0, 80.0), &[(16_000.0, 1.0)], "music"),
        rir_train: rooms(&mut rng, 300),
        ..Default::default()
    };
    corpus.index_speech_sources();
    corpus
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let corpus_dir = args.next().ok_or(
        "usage: mix_rate CORPUS|synthetic [BATCH] [BATCHES] [SECONDS] [SPEED_PERTURB_PROB SPEED_PERTURB_MAX]",
    )?;
    let batch: usize = args.next().map_or(Ok(64), |s| s.parse())?;
    let batches: u64 = args.next().map_or(Ok(4), |s| s.parse())?;
    let seconds: f32 = args.next().map_or(Ok(3.0), |s| s.parse())?;
    let mut mix = MixConfig::new(seconds);
    if let Some(p) = args.next() {
        mix.speed_perturb_prob = p.parse()?;
        mix.speed_perturb_max = args.next().ok_or("SPEED_PERTURB_MAX missing")?.parse()?;
    }
    // As the trainer does; `MIX_RATE_GLIBC_DEFAULTS=1` leaves the allocator as it is, for comparison.
    if std::env::var_os("MIX_RATE_GLIBC_DEFAULTS").is_none() {
        dfn4::train::memory::keep_freed_memory();
    }
    let t0 = Instant::now();
    let corpus = if corpus_dir == "synthetic" {
        synthetic_corpus()
    } else {
        Corpus::load(std::path::Path::new(&corpus_dir))?
    };
    println!(
        "corpus {corpus_dir} loaded in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let producers = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let t0 = Instant::now();
    let mut stream = BatchStream::spawn(
        std::sync::Arc::new(corpus),
        mix.clone(),
        42,
        batch,
        0..batches,
        producers,
        |hb| hb,
    )?;
    while let Some((_, hb)) = stream.recv() {
        std::hint::black_box(hb);
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "{} examples of {seconds} s in {s:.2} s: {:.1} examples/s on {producers} producer threads \
         (speed perturbation {} of examples, up to {})",
        batch as u64 * batches,
        (batch as u64 * batches) as f64 / s,
        mix.speed_perturb_prob,
        mix.speed_perturb_max
    );
    Ok(())
}
