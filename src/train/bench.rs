//! `--bench-batches`: where a training step's time goes, for the tensor and the fused selective scan at
//! several batch sizes, in one process on one device, printed as JSON lines.
//!
//! Per batch size and scan: a few warm-up steps, then `bench_steps` whole steps timed as the trainer
//! runs them (queued back to back; the clock is read after a device synchronisation at the end), then
//! the same number of steps with a synchronisation after every phase, for the time by phase (these
//! synchronisations cost a little, so the phases add up to slightly more than a whole step). Batches are
//! mixed once beforehand and reused, so that data preparation stays out of the step time; how fast the
//! mixing itself runs on this machine's threads is measured and printed separately. The weights train
//! during the measurement at a small learning rate; nothing is saved.
use std::collections::BTreeMap;
use std::time::Instant;

use tch::Device;

use super::corpus::Corpus;
use super::mix::{make_batch, HostBatch, MixConfig, Split};
use super::trainer::Trainer;
use super::TrainConfig;
use crate::backend::tch::fused_scan::{self, set_training_scan, TrainingScan};

/// Distinct mixed batches cycled through per batch size.
const BATCHES: u64 = 3;
/// Untimed steps before each measurement (kernel compilation, allocator warm-up).
const WARMUP_STEPS: u64 = 3;

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        0.5 * (v[v.len() / 2 - 1] + v[v.len() / 2])
    }
}

/// Runs the measurement and prints one JSON line per (scan, batch size), then one for the mixing.
pub(super) fn run(args: &TrainConfig, corpus: &Corpus, trainer: &mut Trainer) -> crate::Result<()> {
    let device = trainer.device();
    let mix = MixConfig::new(args.seconds);
    let mut scans = vec![TrainingScan::Tensor];
    match fused_scan::availability() {
        Ok(()) => scans.push(TrainingScan::Fused),
        Err(e) => println!(
            "{}",
            serde_json::json!({"note": format!("fused scan unavailable: {e}")})
        ),
    }
    let mut mixing: Vec<(usize, f64)> = Vec::new();
    for &batch in &args.bench_batches {
        let t0 = Instant::now();
        let batches: Vec<HostBatch> = (0..BATCHES)
            .map(|i| make_batch(corpus, Split::Train, &mix, args.seed, i, batch))
            .collect();
        mixing.push((
            batch,
            (BATCHES as usize * batch) as f64 / t0.elapsed().as_secs_f64(),
        ));
        for &scan in &scans {
            set_training_scan(scan);
            let mut step = 0u64;
            let mut next = || {
                step += 1;
                &batches[(step % BATCHES) as usize]
            };
            for _ in 0..WARMUP_STEPS {
                trainer.train_step(next(), 1e-6, f64::INFINITY);
            }
            sync(device);
            let t0 = Instant::now();
            for _ in 0..args.bench_steps {
                trainer.train_step(next(), 1e-6, f64::INFINITY);
            }
            sync(device);
            let ms_per_step = 1e3 * t0.elapsed().as_secs_f64() / args.bench_steps as f64;
            // Time by phase: per step, the milliseconds between marks, summed over the Mamba layers.
            let mut phases: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
            for _ in 0..args.bench_steps {
                let mut per: BTreeMap<&'static str, f64> = BTreeMap::new();
                let mut last = Instant::now();
                trainer.train_step_marked(next(), 1e-6, f64::INFINITY, &mut |phase| {
                    sync(device);
                    let now = Instant::now();
                    *per.entry(phase).or_default() += 1e3 * (now - last).as_secs_f64();
                    last = now;
                });
                // The step's own read-back of the losses follows the last mark.
                for (k, v) in per {
                    phases.entry(k).or_default().push(v);
                }
            }
            let phases_ms: BTreeMap<&str, f64> =
                phases.into_iter().map(|(k, v)| (k, median(v))).collect();
            let rec = serde_json::json!({
                "name": match scan { TrainingScan::Tensor => "baseline", TrainingScan::Fused => "fast" },
                "scan": scan.name(),
                "batch": batch,
                "seconds": args.seconds,
                "ms_per_step": ms_per_step,
                "examples_per_s": batch as f64 * 1e3 / ms_per_step,
                "phases_ms_median": phases_ms,
                "device": format!("{device:?}"),
            });
            println!("{rec}");
        }
    }
    let threads = rayon::current_num_threads();
    for (batch, rate) in mixing {
        println!(
            "{}",
            serde_json::json!({"mixing": {"batch": batch, "threads": threads, "examples_per_s": rate}})
        );
    }
    Ok(())
}
