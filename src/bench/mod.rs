//! The measurement harness behind `dfn4 bench`: for every backend it times offline batches
//! (`run_sequence` on B streams × T frames), streaming (`step` per 10 ms hop, one stream), the full
//! pipeline hop by hop (`Denoiser::process_frame`: DSP + model, what a real-time path pays) and in
//! blocks (`Denoiser::process_block`, what `enhance` pays) and, on request, training steps;
//! it summarises the timings ([`stats`]), samples memory ([`system`]) and returns a [`report::Report`]
//! that [`tables`] and [`plot`] render.
pub mod engine;
pub mod measure;
pub mod plot;
pub mod profile;
pub mod report;
pub mod stats;
pub mod system;
pub mod tables;

use std::sync::Arc;

use crate::backend::{AnyBackend, Backend};
use engine::BenchHooks;
use measure::{read_rss, test_features, test_signal, time_batch, time_frames, with_memory};
use report::{BackendReport, BatchResult, FrameResult, ModelInfo, Report, Settings, TrainReport};
use stats::Stats;
use system::Environment;

use crate::config::{HOP_SIZE, SAMPLE_RATE_HZ};
use crate::model::Weights;
use crate::{Error, Result};

/// Audio per frame in seconds.
const HOP_S: f64 = HOP_SIZE as f64 / SAMPLE_RATE_HZ as f64;

/// What to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    /// Batch sizes of the offline and training runs.
    pub batch_sizes: Vec<usize>,
    /// Frames per sequence and per streaming run (100 = 1 s).
    pub seq_length_frames: usize,
    /// Untimed iterations before each configuration.
    pub num_warmup: usize,
    /// Timed iterations per configuration.
    pub num_runs: usize,
    /// Worker threads for batch work.
    pub threads: usize,
    /// Also time training steps.
    pub train_step: bool,
}

impl BenchOptions {
    /// Rejects empty or zero sizes.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidInput(m.to_string()));
        if self.batch_sizes.is_empty() || self.batch_sizes.contains(&0) {
            return bad("batch sizes must be given and at least 1");
        }
        if self.seq_length_frames == 0 {
            return bad("the sequence length must be at least 1 frame");
        }
        if self.num_runs == 0 {
            return bad("at least one timed run is needed");
        }
        if self.threads == 0 {
            return bad("at least one thread is needed");
        }
        Ok(())
    }
}

/// Describes `weights` for the report; `source` is "file", "embedded" or "random".
pub fn model_info(
    weights: &Weights,
    source: &str,
    path: Option<String>,
    seed: Option<u64>,
) -> ModelInfo {
    ModelInfo {
        source: source.to_string(),
        path,
        seed,
        parameters: weights.tensors().values().map(|t| t.data.len()).sum(),
        config: weights.config().clone(),
    }
}

/// Measures every backend of `backends` (the first is the speedup baseline). `progress` receives one
/// line per finished configuration.
pub fn run(
    opts: &BenchOptions,
    backends: &[Arc<AnyBackend>],
    model: ModelInfo,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    opts.validate()?;
    let Some(first) = backends.first() else {
        return Err(Error::InvalidInput("no backend to measure".into()));
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| Error::Config(format!("cannot start {} threads: {e}", opts.threads)))?;
    let mut reports = Vec::with_capacity(backends.len());
    for be in backends {
        let name = be.name();
        let mut offline = Vec::with_capacity(opts.batch_sizes.len());
        for &batch in &opts.batch_sizes {
            let feats = test_features(&model.config, batch, opts.seq_length_frames);
            let (times, memory) = with_memory(|| {
                let mut work = engine::offline(be, &feats, &pool)?;
                let times = time_batch(be, work.as_mut(), opts.num_warmup, opts.num_runs)?;
                Ok((times, read_rss()))
            })?;
            let r = batch_result(batch, opts.seq_length_frames, &times, memory)?;
            progress(&format!(
                "{name}: offline batch {batch}: median {:.3} ms, RTF {:.4}",
                r.latency_ms.median, r.rtf
            ));
            offline.push(r);
        }

        let feats = test_features(&model.config, 1, opts.seq_length_frames);
        let streaming = measure_frames(opts, be, || engine::streaming(be, &feats))?;
        progress(&format!(
            "{name}: streaming step: median {:.4} ms per hop",
            streaming.latency_ms.median
        ));

        let signal = test_signal(opts.seq_length_frames * HOP_SIZE, 1);
        let pipeline = measure_frames(opts, be, || engine::pipeline(be, &signal))?;
        progress(&format!(
            "{name}: full pipeline: median {:.4} ms per hop",
            pipeline.latency_ms.median
        ));

        let block_pipeline = measure_frames(opts, be, || engine::block_pipeline(be, &signal))?;
        progress(&format!(
            "{name}: pipeline in blocks: median {:.4} ms per hop",
            block_pipeline.latency_ms.median
        ));

        let train_step = if opts.train_step {
            Some(train(be, opts, &model, progress)?)
        } else {
            None
        };
        reports.push(BackendReport {
            name: name.to_string(),
            offline,
            streaming,
            pipeline,
            block_pipeline,
            train_step,
        });
    }
    fill_speedups(&mut reports);
    Ok(Report {
        environment: Environment::detect(),
        settings: Settings {
            batch_sizes: opts.batch_sizes.clone(),
            seq_length_frames: opts.seq_length_frames,
            num_warmup: opts.num_warmup,
            num_runs: opts.num_runs,
            threads: opts.threads,
            train_step: opts.train_step,
            hop_ms: HOP_S * 1e3,
            sample_rate_hz: SAMPLE_RATE_HZ,
        },
        model,
        baseline: first.name().to_string(),
        backends: reports,
    })
}

fn train(
    be: &AnyBackend,
    opts: &BenchOptions,
    model: &ModelInfo,
    progress: &mut dyn FnMut(&str),
) -> Result<TrainReport> {
    let mut results = Vec::new();
    for &batch in &opts.batch_sizes {
        let feats = test_features(&model.config, batch, opts.seq_length_frames);
        let mut work = match be.train_workload(&feats) {
            Ok(w) => w,
            Err(reason) => {
                progress(&format!(
                    "{}: train step not available: {reason}",
                    be.name()
                ));
                return Ok(TrainReport {
                    available: false,
                    reason: Some(reason),
                    results: Vec::new(),
                });
            }
        };
        let (times, memory) = with_memory(|| {
            let times = time_batch(be, work.as_mut(), opts.num_warmup, opts.num_runs)?;
            Ok((times, read_rss()))
        })?;
        let r = batch_result(batch, opts.seq_length_frames, &times, memory)?;
        progress(&format!(
            "{}: train step batch {batch}: median {:.3} ms",
            be.name(),
            r.latency_ms.median
        ));
        results.push(r);
    }
    Ok(TrainReport {
        available: true,
        reason: None,
        results,
    })
}

fn batch_result(
    batch: usize,
    frames: usize,
    times_ms: &[f64],
    memory: Option<report::Memory>,
) -> Result<BatchResult> {
    let latency_ms = Stats::from_values(times_ms)?;
    let audio_s = (batch * frames) as f64 * HOP_S;
    let median_s = latency_ms.median / 1e3;
    Ok(BatchResult {
        batch,
        frames,
        audio_s,
        latency_ms,
        rtf: median_s / audio_s,
        throughput_audio_s_per_s: audio_s / median_s,
        throughput_samples_per_s: audio_s * SAMPLE_RATE_HZ as f64 / median_s,
        speedup_vs_baseline: None,
        memory,
    })
}

/// Per-hop timing and memory of the workload `make` builds (inside the memory measurement, so its
/// buffers count): the streaming step, the pipeline and the pipeline in blocks.
fn measure_frames<'a>(
    opts: &BenchOptions,
    backend: &AnyBackend,
    make: impl FnOnce() -> Result<Box<dyn engine::FrameWorkload + 'a>>,
) -> Result<FrameResult> {
    let (times, memory) = with_memory(|| {
        let mut work = make()?;
        let times = time_frames(backend, work.as_mut(), opts.num_warmup, opts.num_runs)?;
        Ok((times, read_rss()))
    })?;
    frame_result(opts.seq_length_frames, &times, memory)
}

fn frame_result(
    frames_per_run: usize,
    times_ms: &[f64],
    memory: Option<report::Memory>,
) -> Result<FrameResult> {
    let latency_ms = Stats::from_values(times_ms)?;
    let median_s = latency_ms.median / 1e3;
    Ok(FrameResult {
        batch: 1,
        frames_per_run,
        hop_ms: HOP_S * 1e3,
        latency_ms,
        rtf: median_s / HOP_S,
        throughput_audio_s_per_s: HOP_S / median_s,
        throughput_samples_per_s: HOP_SIZE as f64 / median_s,
        memory,
    })
}

/// Sets each offline result's speedup: the first backend's median at the same batch over its own.
fn fill_speedups(reports: &mut [BackendReport]) {
    let Some(base) = reports.first().map(|r| r.offline.clone()) else {
        return;
    };
    for r in reports.iter_mut() {
        for res in &mut r.offline {
            res.speedup_vs_baseline = base
                .iter()
                .find(|b| b.batch == res.batch)
                .map(|b| b.latency_ms.median / res.latency_ms.median);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    #[test]
    fn rtf_and_throughput_follow_the_median() {
        let r = batch_result(4, 100, &[400.0, 200.0, 300.0], None).unwrap();
        // 4 streams × 1 s of audio in a 300 ms median.
        assert!((r.audio_s - 4.0).abs() < 1e-12);
        assert!((r.rtf - 0.075).abs() < 1e-12);
        assert!((r.throughput_audio_s_per_s - 4.0 / 0.3).abs() < 1e-9);
        assert!((r.throughput_samples_per_s - 4.0 * 48_000.0 / 0.3).abs() < 1e-6);
        let f = frame_result(100, &[0.5, 0.25, 1.0], None).unwrap();
        assert!((f.rtf - 0.05).abs() < 1e-12);
        assert!((f.throughput_samples_per_s - 480.0 / 0.5e-3).abs() < 1e-6);
    }

    #[test]
    fn runs_the_native_backend_end_to_end() {
        let weights = Weights::random(&ModelConfig::default(), 3);
        let backends = vec![Arc::new(
            crate::backend::registry::create(
                "native",
                crate::backend::ModelSource::Weights(&weights),
            )
            .unwrap(),
        )];
        let opts = BenchOptions {
            batch_sizes: vec![1, 3],
            seq_length_frames: 4,
            num_warmup: 1,
            num_runs: 2,
            threads: 2,
            train_step: true,
        };
        let mut lines = Vec::new();
        let info = model_info(&weights, "random", None, Some(3));
        let report = run(&opts, &backends, info, &mut |l| lines.push(l.to_string())).unwrap();
        let native = &report.backends[0];
        assert_eq!(native.offline.len(), 2);
        assert_eq!(native.offline[1].latency_ms.samples, 2);
        assert_eq!(native.offline[0].speedup_vs_baseline, Some(1.0));
        assert_eq!(native.streaming.latency_ms.samples, 2 * 4);
        assert_eq!(native.pipeline.latency_ms.samples, 2 * 4);
        // Four hops are one (partial) block per run.
        assert_eq!(native.block_pipeline.latency_ms.samples, 2);
        let train = native.train_step.as_ref().unwrap();
        assert!(!train.available && train.reason.as_deref() == Some("native has no autograd"));
        assert!(lines.iter().any(|l| l.contains("offline batch 3")));
        assert!(report.model.parameters > 100_000);
    }
}
