//! `dfn4 bench`: measures the compiled-in backends (offline batches, streaming steps, the full pipeline,
//! optionally training steps) and prints tables; `--output` writes the JSON report, `--markdown` prints
//! Markdown instead of plain tables, `--plot` draws latency and RTF against batch size.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use dfn4::backend::{registry, ModelSource};
use dfn4::bench::{self, engine, report::Report, BenchOptions};
use dfn4::config::ModelConfig;
use dfn4::model::{embedded, Weights};

/// Seed of the random weights used when no trained ones are at hand.
const RANDOM_WEIGHTS_SEED: u64 = 0;

/// Arguments of `dfn4 bench`.
#[derive(Debug, Args)]
#[command(after_help = super::backend_help())]
pub struct BenchArgs {
    /// Batch sizes of the offline runs (space- or comma-separated).
    #[arg(long, num_args = 1.., value_delimiter = ',', value_name = "N", default_values_t = [1, 2, 4, 8], value_parser = positive)]
    pub batch_sizes: Vec<usize>,
    /// Frames per sequence and per streaming run (100 frames = 1 s of audio).
    #[arg(long, value_name = "FRAMES", default_value_t = 100, value_parser = positive)]
    pub seq_length: usize,
    /// Untimed iterations before each configuration.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub num_warmup: usize,
    /// Timed iterations per configuration.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = positive)]
    pub num_runs: usize,
    /// Backends to measure, the first being the speedup baseline (names: the list below).
    /// Default: every backend compiled in and available.
    #[arg(long, num_args = 1.., value_delimiter = ',', value_name = "NAME", conflicts_with = "only")]
    pub backends: Vec<String>,
    /// Measure this one backend only.
    #[arg(long, value_name = "BACKEND")]
    pub only: Option<String>,
    /// Write the full report as JSON.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Print the tables as Markdown.
    #[arg(long)]
    pub markdown: bool,
    /// Worker threads for batch work (native runs each stream on one thread). Default: all cores.
    #[arg(long, value_name = "N", value_parser = positive)]
    pub threads: Option<usize>,
    /// Model weights (safetensors). Default: the embedded weights, else seeded random weights (speed does
    /// not depend on trained values).
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Also time training steps (forward + backward) on backends with autograd.
    #[arg(long)]
    pub train_step: bool,
    /// Draw latency and RTF against batch size to an SVG file.
    #[arg(long, value_name = "PATH")]
    pub plot: Option<PathBuf>,
    /// Instead of the other measurements: time each stage of a 10 ms hop (DSP, encoders, every Mamba
    /// layer's projections, convolution, scan and gate, decoders, deep filter) over HOPS back-to-back
    /// hops per backend, and print the medians side by side as Markdown.
    #[arg(long, value_name = "HOPS", num_args = 0..=1, default_missing_value = "20000", value_parser = positive)]
    pub profile: Option<usize>,
}

fn positive(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// The backend names to measure, checked, in order, without repeats.
pub fn backend_names(args: &BenchArgs) -> Result<Vec<String>> {
    let mut names: Vec<String> = match (&args.only, args.backends.is_empty()) {
        (Some(one), _) => vec![one.clone()],
        (None, false) => args.backends.clone(),
        (None, true) => registry::usable_names()
            .into_iter()
            .map(String::from)
            .collect(),
    };
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    for n in &names {
        registry::lookup(n)?.availability()?;
    }
    Ok(names)
}

/// The weights to run and how the report should describe them.
fn weights(model: Option<&Path>) -> Result<(Weights<'static>, bench::report::ModelInfo)> {
    Ok(match model {
        Some(path) => {
            let w = Weights::load(path)
                .with_context(|| format!("cannot load model {}", path.display()))?;
            let info = bench::model_info(&w, "file", Some(path.display().to_string()), None);
            (w, info)
        }
        None if embedded::available() => {
            let w = embedded::load().context("cannot load the embedded model")?;
            let info = bench::model_info(&w, "embedded", None, None);
            (w, info)
        }
        None => {
            let w = Weights::random(&ModelConfig::default(), RANDOM_WEIGHTS_SEED);
            let info = bench::model_info(&w, "random", None, Some(RANDOM_WEIGHTS_SEED));
            (w, info)
        }
    })
}

/// Runs `dfn4 bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let names = backend_names(args)?;
    let (weights, info) = weights(args.model.as_deref())?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // The bench runs batch work on its own pool of `threads`; sizing the global pool too keeps any rayon
    // use inside a backend to the same count. It fails only if the global pool already exists.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
    engine::set_backend_threads(threads);
    let opts = BenchOptions {
        batch_sizes: args.batch_sizes.clone(),
        seq_length_frames: args.seq_length,
        num_warmup: args.num_warmup,
        num_runs: args.num_runs,
        threads,
        train_step: args.train_step,
    };
    let names_ref: Vec<&str> = names.iter().map(String::as_str).collect();
    let backends = registry::create_many(&names_ref, ModelSource::Weights(&weights))?;
    // The backends hold their weights in their own layouts; the parsed copy is not needed any more.
    drop(weights);
    if let Some(hops) = args.profile {
        // A tenth as many untimed hops first: caches, branch predictors and the CPU's clock settle.
        let warmup = (hops / 10).max(100);
        eprintln!(
            "model: {}; profiling {hops} hops (after {warmup} untimed) per backend: {}\n{}",
            describe_model(&info),
            names.join(", "),
            registry::default_backend_rule()
        );
        let profiles =
            bench::profile::profile(&backends, hops, warmup).context("profile failed")?;
        println!(
            "{}\n\nMedians per 10 ms hop, µs (share of the probed hop):\n\n{}",
            environment_line(&bench::system::Environment::detect(), &info),
            bench::profile::render_markdown(&profiles)
        );
        return Ok(());
    }
    eprintln!(
        "model: {}; backends: {}; {threads} thread(s); {} warm-up + {} timed runs per configuration\n{}",
        describe_model(&info),
        names.join(", "),
        opts.num_warmup,
        opts.num_runs,
        registry::default_backend_rule()
    );
    let report = bench::run(&opts, &backends, info, &mut |line| eprintln!("  {line}"))
        .context("benchmark failed")?;
    print_report(&report, args.markdown);
    if let Some(path) = &args.output {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.plot {
        bench::plot::write_svg(&report, path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn describe_model(info: &bench::report::ModelInfo) -> String {
    match (info.source.as_str(), &info.path, info.seed) {
        ("file", Some(p), _) => format!("{p} ({} parameters)", info.parameters),
        ("random", _, Some(seed)) => format!(
            "random weights, seed {seed} ({} parameters; untrained, speed does not depend on trained values)",
            info.parameters
        ),
        _ => format!("embedded weights ({} parameters)", info.parameters),
    }
}

/// The build, machine and model in one line.
fn environment_line(env: &bench::system::Environment, model: &bench::report::ModelInfo) -> String {
    format!(
        "dfn4 {} ({} build, rev {}), {} × {}, {}; model: {}",
        env.dfn4_version,
        env.profile,
        env.git_revision.get(..12).unwrap_or(&env.git_revision),
        env.logical_cores,
        env.cpu_model,
        env.os,
        describe_model(model)
    )
}

fn print_report(report: &Report, markdown: bool) {
    let head = environment_line(&report.environment, &report.model);
    if markdown {
        println!("{head}\n\n{}", bench::tables::render_markdown(report));
    } else {
        println!("{head}\n\n{}", bench::tables::render_text(report));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(argv: &[&str]) -> std::result::Result<BenchArgs, clap::Error> {
        let cli = Cli::try_parse_from(["dfn4", "bench"].iter().chain(argv))?;
        match cli.command {
            Command::Bench(args) => Ok(args),
            other => panic!("expected bench, parsed {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.batch_sizes, [1, 2, 4, 8]);
        assert_eq!((a.seq_length, a.num_warmup, a.num_runs), (100, 10, 50));
        assert!(a.backends.is_empty() && a.only.is_none() && a.threads.is_none());
        assert!(!a.markdown && !a.train_step);
        // Every compiled-in backend whose device is present, native first (only the three native ones
        // without `tch` and `mlx`).
        let names = backend_names(&a).unwrap();
        assert_eq!(names, registry::usable_names());
        assert_eq!(names[0], "native");
        if !cfg!(feature = "tch") && !cfg!(feature = "mlx") {
            assert_eq!(names, ["native", "native-f16", "native-i8"]);
        }
    }

    #[test]
    fn batch_sizes_take_several_values() {
        assert_eq!(
            parse(&["--batch-sizes", "1", "4", "8", "16"])
                .unwrap()
                .batch_sizes,
            [1, 4, 8, 16]
        );
        assert_eq!(
            parse(&["--batch-sizes", "2,3", "--markdown"])
                .unwrap()
                .batch_sizes,
            [2, 3]
        );
        assert!(parse(&["--batch-sizes", "0"]).is_err());
        assert!(parse(&["--num-runs", "0"]).is_err());
        assert!(parse(&["--threads", "0"]).is_err());
    }

    #[test]
    fn backend_selection() {
        let a = parse(&["--only", "native"]).unwrap();
        assert_eq!(backend_names(&a).unwrap(), ["native"]);
        let a = parse(&["--backends", "native", "native"]).unwrap();
        assert_eq!(backend_names(&a).unwrap(), ["native"]);
        assert!(parse(&["--backends", "native", "--only", "native"]).is_err());
        // mlx-gpu is either not compiled in, or (the CPU wheel of MLX) compiled in without a GPU here.
        let a = parse(&["--backends", "native", "mlx-gpu"]).unwrap();
        let msg = backend_names(&a).unwrap_err().to_string();
        let want = if cfg!(feature = "mlx") {
            "mlx-gpu: the linked MLX build has no usable GPU here"
        } else {
            "\"mlx-gpu\" is not compiled into this build"
        };
        assert!(msg.contains(want), "{msg}");
        let a = parse(&["--only", "gpu"]).unwrap();
        let msg = backend_names(&a).unwrap_err().to_string();
        assert!(
            msg.starts_with("invalid configuration: unknown backend \"gpu\""),
            "{msg}"
        );
    }
}
