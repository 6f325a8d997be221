//! `dfn4 enhance IN... OUT`: denoises a WAV file, stdin (`-`), several files into a folder, or every
//! `*.wav` of a directory in parallel. The output keeps the input's rate, channels, length and (unless
//! `--out-format` says otherwise) sample format. Paths are planned and checked first
//! ([`super::enhance_paths`]); status, progress and warnings go to stderr, so stdout can carry audio.
use std::fs::File;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use dfn4::audio_io::wav::{remove_temp_files, Existing, SampleFormat, WavReader};
use dfn4::audio_io::writer::is_flac_path;
use dfn4::audio_io::{AudioReader, AudioWriter};
use dfn4::backend::{registry, ModelSource};
use dfn4::enhance::{Enhancer, FileOptions, FileReport};

use super::enhance_paths::{plan, Endpoint, Job, Plan, Skipped};
use super::filter_args::FilterArgs;

/// Files of more frames than this (10 s at 48 kHz) get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_FRAMES: u64 = 480_000;

/// Arguments of `dfn4 enhance`.
#[derive(Debug, Args)]
#[command(after_help = super::backend_help())]
pub struct EnhanceArgs {
    /// Inputs then the output. One input: a WAV file, `-` for stdin, or a directory whose *.wav files
    /// are all enhanced. The output: a WAV file, `-` for stdout, or a folder (created if missing when
    /// named with a trailing `/`). Several inputs: files, and the output is a folder (created if
    /// missing) that receives a file of each input's name.
    #[arg(required = true, num_args = 2.., value_name = "PATH")]
    pub paths: Vec<std::path::PathBuf>,
    /// Replace output files that exist already (refused otherwise; an input is never overwritten).
    #[arg(short = 'y', long)]
    pub overwrite: bool,
    /// Model weights (safetensors); the config is read from PATH with a .json extension if present.
    /// Default: the weights embedded in this build.
    #[arg(long, value_name = "PATH")]
    pub model: Option<std::path::PathBuf>,
    /// Inference backend (the list, and why the default is the default: below, or `--help`).
    #[arg(long, value_name = "NAME", default_value = registry::default_backend())]
    pub backend: String,
    /// Attenuation limit, post-filter and LSNR gates.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Sample format of the output (default: the input's).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub out_format: Option<OutFormat>,
    /// Round output peaks above -1 dBFS off towards full scale instead of letting a 16/24/32-bit
    /// output clip them (off by default: the output is the model's; clipped samples are counted and
    /// reported either way).
    #[arg(long)]
    pub soft_clip: bool,
}

/// Output sample formats selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    /// 32-bit float.
    F32,
    /// 16-bit integer.
    I16,
    /// 24-bit integer.
    I24,
    /// 32-bit integer.
    I32,
}

impl From<OutFormat> for SampleFormat {
    fn from(f: OutFormat) -> Self {
        match f {
            OutFormat::F32 => SampleFormat::F32,
            OutFormat::I16 => SampleFormat::I16,
            OutFormat::I24 => SampleFormat::I24,
            OutFormat::I32 => SampleFormat::I32,
        }
    }
}

/// Runs `dfn4 enhance`.
pub fn run(args: &EnhanceArgs) -> Result<()> {
    let params = args.filter.params()?;
    // Name, feature and device are checked before the input, so a typo fails fast.
    registry::lookup(&args.backend)?.availability()?;
    let plan = plan(&args.paths, args.overwrite)?;
    if let (
        Plan::One(Job {
            output: Endpoint::Path(out),
            ..
        }),
        Some(f),
    ) = (&plan, args.out_format)
    {
        if is_flac_path(out) && matches!(f, OutFormat::F32 | OutFormat::I32) {
            bail!(
                "FLAC holds 16- or 24-bit integers: --out-format {} cannot be written to {} (use i16 \
                 or i24, or a .wav name)",
                SampleFormat::from(f).name(),
                out.display()
            );
        }
    }
    remove_temp_files_on_interrupt();
    let backend = registry::create(
        &args.backend,
        ModelSource::from_option(args.model.as_deref()),
    )?;
    let enhancer =
        Enhancer::new(Arc::new(backend), params).context("cannot create the denoiser")?;
    let options = FileOptions {
        out_format: args.out_format.map(SampleFormat::from),
        existing: if args.overwrite {
            Existing::Overwrite
        } else {
            Existing::Refuse
        },
        soft_clip: args.soft_clip,
    };
    match plan {
        Plan::One(job) => run_one(&enhancer, &job, &options),
        Plan::Many {
            jobs,
            out_dir,
            skipped,
        } => run_many(&enhancer, &jobs, &out_dir, &skipped, &options),
    }
}

/// Ctrl-C, SIGTERM and SIGHUP remove the temp files of outputs being written, then exit 130: no
/// partial output is ever left behind.
fn remove_temp_files_on_interrupt() {
    // Failing to install the handler only loses the clean-up; the run itself is unaffected.
    let _ = ctrlc::set_handler(|| {
        let removed = remove_temp_files();
        eprintln!("interrupted; {removed} unfinished output file(s) removed");
        std::process::exit(130);
    });
}

fn summary(output: &str, report: &FileReport) -> String {
    let secs = report.processing_s;
    format!(
        "{output}: {:.2} s of audio processed in {secs:.2} s (RTF {:.3})",
        report.audio_s,
        secs / report.audio_s.max(f64::MIN_POSITIVE)
    )
}

/// Warnings about a finished file: repaired input samples, output beyond full scale.
fn warnings(input: &str, output: &str, report: &FileReport) -> Vec<String> {
    let mut lines = Vec::new();
    if report.non_finite_replaced > 0 {
        lines.push(format!(
            "warning: {input}: replaced {} NaN/Inf samples with 0",
            report.non_finite_replaced
        ));
    }
    if report.beyond_full_scale > 0 {
        let peak_db = 20.0 * report.peak.max(f32::MIN_POSITIVE).log10();
        let what = if report.out_format == SampleFormat::F32 {
            "beyond full scale, kept in the float output (players and converters may clip them)"
        } else {
            "clipped at full scale"
        };
        lines.push(format!(
            "warning: {output}: {} samples {what}; peak {peak_db:+.1} dBFS (--soft-clip rounds such \
             peaks off below full scale)",
            report.beyond_full_scale
        ));
    }
    lines
}

fn stderr_target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// A `File` on this process's stdin or stdout (a duplicate descriptor), so the WAV reader and writer
/// treat them as any other file (a pipe, or a regular file after a shell redirect).
fn std_file(stdout: bool) -> std::io::Result<File> {
    let fd = if stdout {
        std::io::stdout().as_fd().try_clone_to_owned()
    } else {
        std::io::stdin().as_fd().try_clone_to_owned()
    };
    Ok(File::from(fd?))
}

fn run_one(enhancer: &Enhancer, job: &Job, options: &FileOptions) -> Result<()> {
    let (in_name, out_name) = (job.input.display(), job.output.display());
    if job.output == Endpoint::Std && std::io::stdout().is_terminal() {
        bail!("refusing to write audio to a terminal; redirect stdout to a file or a pipe");
    }
    if let (Endpoint::Path(out), true) = (&job.output, job.create_parent) {
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create output directory {}", dir.display()))?;
        }
    }
    let bar = ProgressBar::with_draw_target(None, stderr_target());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {percent:>3}% elapsed {elapsed} eta {eta}")
            .context("progress bar template")?,
    );
    let progress = |done: u64, total: u64| {
        // Short files finish before a bar would be worth drawing; streams have no known total.
        if total > PROGRESS_MIN_FRAMES {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let result = match &job.input {
        Endpoint::Path(p) => AudioReader::open(p),
        Endpoint::Std => {
            let file = std_file(false).context("cannot read stdin")?;
            let len = file
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            WavReader::from_reader(file, len).map(AudioReader::Wav)
        }
    }
    .and_then(|reader| {
        enhancer.enhance_reader(
            reader,
            options,
            &progress,
            |rate_hz, format, channels, frames| match &job.output {
                Endpoint::Path(p) => {
                    AudioWriter::create(p, rate_hz, format, channels, options.existing, frames)
                }
                Endpoint::Std => {
                    AudioWriter::wav_stream(std_file(true)?, rate_hz, format, channels, frames)
                }
            },
        )
    });
    bar.finish_and_clear();
    let report = result.map_err(|e| file_error(&in_name, &out_name, e))?;
    for w in warnings(&in_name, &out_name, &report) {
        eprintln!("{w}");
    }
    eprintln!("{}", summary(&out_name, &report));
    Ok(())
}

/// Whether a library error is about the input file (unreadable, not WAV, truncated, ...).
fn is_input_error(e: &dfn4::Error) -> bool {
    match e {
        dfn4::Error::Wav(_) | dfn4::Error::InvalidInput(_) | dfn4::Error::UnsupportedFormat(_) => {
            true
        }
        dfn4::Error::Io(io) => io.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// Library errors on reading name the input, the rest the output.
fn file_error(input: &str, output: &str, e: dfn4::Error) -> anyhow::Error {
    let context = if is_input_error(&e) {
        format!("cannot read input {input}")
    } else {
        format!("cannot enhance into {output}")
    };
    anyhow::Error::new(e).context(context)
}

fn run_many(
    enhancer: &Enhancer,
    jobs: &[Job],
    out_dir: &Path,
    skipped: &[Skipped],
    options: &FileOptions,
) -> Result<()> {
    for s in skipped {
        eprintln!("skipped {}: {}", s.path.display(), s.why);
    }
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create output directory {}", out_dir.display()))?;
    let bar = ProgressBar::with_draw_target(Some(jobs.len() as u64), stderr_target());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files, elapsed {elapsed}")
            .context("progress bar template")?,
    );
    let start = Instant::now();
    let audio_s: Vec<Option<f64>> = jobs
        .par_iter()
        .map(|job| {
            let (Endpoint::Path(input), Endpoint::Path(output)) = (&job.input, &job.output) else {
                return None;
            };
            let result = enhancer.enhance_file(input, output, options, &|_, _| {});
            bar.inc(1);
            let (in_name, out_name) = (job.input.display(), job.output.display());
            match result {
                Ok(report) => {
                    bar.suspend(|| {
                        for w in warnings(&in_name, &out_name, &report) {
                            eprintln!("{w}");
                        }
                        eprintln!("{}", summary(&out_name, &report));
                    });
                    Some(report.audio_s)
                }
                Err(e) => {
                    // Errors are printed after the input's path, so the message need not repeat it.
                    let what = if is_input_error(&e) {
                        "unreadable input"
                    } else {
                        "cannot enhance"
                    };
                    let msg = format!("{what}: {e}").replace('\n', " ");
                    bar.suspend(|| eprintln!("error: {in_name}: {msg}"));
                    None
                }
            }
        })
        .collect();
    bar.finish_and_clear();
    let failed = audio_s.iter().filter(|s| s.is_none()).count();
    let total_s: f64 = audio_s.iter().flatten().sum();
    let wall_s = start.elapsed().as_secs_f64();
    let skipped_note = if skipped.is_empty() {
        String::new()
    } else {
        format!("; {} other entries skipped (listed above)", skipped.len())
    };
    eprintln!(
        "{} of {} files enhanced into {}: {total_s:.2} s of audio in {wall_s:.2} s wall clock (RTF {:.3}){skipped_note}",
        jobs.len() - failed,
        jobs.len(),
        out_dir.display(),
        wall_s / total_s.max(f64::MIN_POSITIVE)
    );
    if failed > 0 {
        bail!("{failed} of {} files failed", jobs.len());
    }
    Ok(())
}
