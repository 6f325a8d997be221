//! `--bench-batches`: where a training step's time goes, for the tensor and the fused selective scan at
//! several batch sizes, in one process on one device, printed as JSON lines.
//!
//! Per batch size and scan: a few warm-up steps, then `bench_steps` whole steps timed as the trainer
//! runs them (queued back to back; the clock is read after a device synchronisation at the end), then
//! the same number of steps with a synchronisation after every phase, for the time by phase (these
//! synchronisations cost a little, so the phases add up to slightly more than a whole step). Batches are
//! mixed once beforehand and reused, so that data preparation stays out of the step time; how fast the
//! mixing itself runs on this machine's threads is measured and printed separately. For the fused scan
//! the step is also timed on batches uploaded beforehand (`ms_per_step_uploaded`: the training thread's
//! share when the producer threads upload).
//!
//! Then end to end, data included, per batch size: "baseline" (tensor scan, upload on the training
//! thread: the trainer before issue 24 but for its data, which since 2026-12-06 comes from the producer
//! threads too) and "fast" (fused scan, upload on the producer threads), each fed by the trainer's own
//! producers ([`super::stream`]) for `2 × bench_steps` steps after a warm-up; `wait_ms` is the median
//! time the training thread waited for data.
//!
//! A measurement that fails (the tensor form runs out of memory at large batches) prints a note and
//! the rest goes on; the fused form is measured first. The weights train during the measurement at a
//! small learning rate; nothing is saved.
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use tch::Device;

use super::corpus::Corpus;
use super::mix::{make_batch, HostBatch, MixConfig, Split};
use super::trainer::{spawn_producer, DeviceBatch, Trainer, Upload};
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
pub(super) fn run(
    args: &TrainConfig,
    corpus: &Arc<Corpus>,
    trainer: &mut Trainer,
) -> crate::Result<()> {
    let device = trainer.device();
    let mix = MixConfig::new(args.seconds);
    let mut scans = vec![];
    match fused_scan::availability() {
        Ok(()) => scans.push(TrainingScan::Fused),
        Err(e) => println!(
            "{}",
            serde_json::json!({"note": format!("fused scan unavailable: {e}")})
        ),
    }
    scans.push(TrainingScan::Tensor);
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
            let measured = catch_unwind(AssertUnwindSafe(|| {
                measure_steps(args, trainer, device, &batches, scan, batch)
            }));
            if let Err(e) = measured {
                print_failure(scan_name(scan), "steps", batch, e.as_ref());
            }
        }
    }
    for &batch in &args.bench_batches {
        for (name, scan, upload) in [
            ("fast", TrainingScan::Fused, Upload::Producer),
            ("baseline", TrainingScan::Tensor, Upload::Main),
        ] {
            if !scans.contains(&scan) {
                continue;
            }
            set_training_scan(scan);
            let measured = catch_unwind(AssertUnwindSafe(|| {
                measure_end_to_end(args, corpus, trainer, device, &mix, name, upload, batch)
            }));
            if let Err(e) = measured {
                print_failure(name, "end_to_end", batch, e.as_ref());
            }
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

fn scan_name(scan: TrainingScan) -> &'static str {
    match scan {
        TrainingScan::Tensor => "baseline",
        TrainingScan::Fused => "fast",
    }
}

fn print_failure(name: &str, what: &str, batch: usize, e: &(dyn std::any::Any + Send)) {
    let msg = e
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| e.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    // The first line says what failed (an out-of-memory message runs over many lines).
    let first = msg.lines().next().unwrap_or("");
    println!(
        "{}",
        serde_json::json!({"note": "failed", "name": name, "measure": what, "batch": batch, "error": first})
    );
}

/// Whole steps and the time by phase on pre-mixed batches; one JSON line.
fn measure_steps(
    args: &TrainConfig,
    trainer: &mut Trainer,
    device: Device,
    batches: &[HostBatch],
    scan: TrainingScan,
    batch: usize,
) {
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
    let phases_ms: BTreeMap<&str, f64> = phases.into_iter().map(|(k, v)| (k, median(v))).collect();
    // The training thread's share when the producer uploads: the same steps on batches
    // already on the device.
    let ms_per_step_uploaded = (scan == TrainingScan::Fused).then(|| {
        let uploaded: Vec<DeviceBatch> = batches
            .iter()
            .map(|hb| DeviceBatch::upload(hb, device))
            .collect();
        sync(device);
        let t0 = Instant::now();
        for i in 0..args.bench_steps {
            trainer.train_step_device(&uploaded[(i % BATCHES) as usize], 1e-6, f64::INFINITY);
        }
        sync(device);
        1e3 * t0.elapsed().as_secs_f64() / args.bench_steps as f64
    });
    let rec = serde_json::json!({
        "name": scan_name(scan),
        "measure": "steps",
        "scan": scan.name(),
        "batch": batch,
        "seconds": args.seconds,
        "ms_per_step": ms_per_step,
        "examples_per_s": batch as f64 * 1e3 / ms_per_step,
        "ms_per_step_uploaded": ms_per_step_uploaded,
        "phases_ms_median": phases_ms,
        "device": format!("{device:?}"),
    });
    println!("{rec}");
}

/// Steps fed by the trainer's producer thread (mixing and, with [`Upload::Producer`], the upload),
/// data included; one JSON line.
#[allow(clippy::too_many_arguments)]
fn measure_end_to_end(
    args: &TrainConfig,
    corpus: &Arc<Corpus>,
    trainer: &mut Trainer,
    device: Device,
    mix: &MixConfig,
    name: &str,
    upload: Upload,
    batch: usize,
) {
    let steps = 2 * args.bench_steps;
    let spawned = spawn_producer(
        corpus.clone(),
        mix.clone(),
        args.seed,
        batch,
        0..WARMUP_STEPS + steps,
        upload,
        device,
        args.producers(),
    );
    let mut rx = match spawned {
        Ok(rx) => rx,
        Err(e) => {
            let note = serde_json::json!({"note": "failed", "name": name, "measure": "end_to_end",
                "batch": batch, "error": e.to_string()});
            println!("{note}");
            return;
        }
    };
    let mut waits_ms = Vec::new();
    let mut t0 = Instant::now();
    for i in 0..WARMUP_STEPS + steps {
        if i == WARMUP_STEPS {
            sync(device);
            t0 = Instant::now();
        }
        let tw = Instant::now();
        let Some((_, prepared)) = rx.recv() else {
            return;
        };
        if i >= WARMUP_STEPS {
            waits_ms.push(1e3 * tw.elapsed().as_secs_f64());
        }
        trainer.train_step_prepared(&prepared, 1e-6, f64::INFINITY);
    }
    sync(device);
    let ms_per_step = 1e3 * t0.elapsed().as_secs_f64() / steps as f64;
    let rec = serde_json::json!({
        "name": name,
        "measure": "end_to_end",
        "upload": match upload { Upload::Producer => "producer", Upload::Main => "main" },
        "batch": batch,
        "seconds": args.seconds,
        "steps": steps,
        "ms_per_step": ms_per_step,
        "examples_per_s": batch as f64 * 1e3 / ms_per_step,
        "wait_ms_median": median(waits_ms),
        "threads": rayon::current_num_threads(),
        "device": format!("{device:?}"),
    });
    println!("{rec}");
}
