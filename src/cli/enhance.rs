//! `dfn4 enhance IN OUT`: denoises one WAV file, or every `*.wav` of a directory in parallel. The output
//! keeps the input's rate, channels, length and (unless `--out-format` says otherwise) sample format.
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use dfn4::audio_io::SampleFormat;
use dfn4::backend::{registry, ModelSource, DEFAULT_BACKEND};
use dfn4::enhance::{Enhancer, FileOptions, FileReport};

use super::filter_args::FilterArgs;

/// Files of more frames than this (10 s at 48 kHz) get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_FRAMES: u64 = 480_000;

/// Arguments of `dfn4 enhance`.
#[derive(Debug, Args)]
pub struct EnhanceArgs {
    /// Input WAV file, or a directory whose *.wav files are all enhanced.
    pub input: PathBuf,
    /// Output WAV file; for a directory input, the output directory (created if missing). An existing
    /// directory given for a file input receives a file of the input's name.
    pub output: PathBuf,
    /// Model weights (safetensors); the config is read from PATH with a .json extension if present.
    /// Default: the weights embedded in this build.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Inference backend ("native" is the exact f32 engine).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_BACKEND)]
    pub backend: String,
    /// Attenuation limit, post-filter and LSNR gates.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Sample format of the output (default: the input's).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub out_format: Option<OutFormat>,
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
    let meta = fs::metadata(&args.input)
        .with_context(|| format!("cannot read input {}", args.input.display()))?;
    let is_dir = meta.is_dir();
    let (input, output) = if is_dir {
        check_dir_paths(&args.input, &args.output)?
    } else {
        check_file_paths(&args.input, &args.output)?
    };
    let backend = registry::create(
        &args.backend,
        ModelSource::from_option(args.model.as_deref()),
    )?;
    let enhancer =
        Enhancer::new(Arc::new(backend), params).context("cannot create the denoiser")?;
    let options = FileOptions {
        out_format: args.out_format.map(SampleFormat::from),
    };
    if is_dir {
        run_dir(&enhancer, &input, &output, &options)
    } else {
        run_file(&enhancer, &input, &output, &options)
    }
}

/// `path` made absolute with symlinks resolved; for a file that does not exist yet, its directory is
/// resolved instead and the name appended.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = fs::canonicalize(path) {
        return Some(p);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(fs::canonicalize(parent).ok()?.join(path.file_name()?))
}

fn same_path(a: &Path, b: &Path) -> bool {
    matches!((resolved(a), resolved(b)), (Some(x), Some(y)) if x == y)
}

fn summary(output: &Path, report: &FileReport) -> String {
    let secs = report.processing_s;
    format!(
        "{}: {:.2} s of audio processed in {secs:.2} s (RTF {:.3})",
        output.display(),
        report.audio_s,
        secs / report.audio_s.max(f64::MIN_POSITIVE)
    )
}

fn warn_non_finite(path: &Path, report: &FileReport) -> Option<String> {
    (report.non_finite_replaced > 0).then(|| {
        format!(
            "warning: {}: replaced {} NaN/Inf samples with 0",
            path.display(),
            report.non_finite_replaced
        )
    })
}

fn stderr_target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// The output file for a file input (an existing directory receives a file of the input's name), after
/// checking that it is not the input and that its directory exists.
fn check_file_paths(input: &Path, output: &Path) -> Result<(PathBuf, PathBuf)> {
    let output = if output.is_dir() {
        output.join(input.file_name().context("the input has no file name")?)
    } else {
        output.to_path_buf()
    };
    if same_path(input, &output) {
        bail!(
            "the output {} is the input file; refusing to overwrite it",
            output.display()
        );
    }
    let out_dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !out_dir.is_dir() {
        bail!(
            "cannot write output {}: directory {} does not exist",
            output.display(),
            out_dir.display()
        );
    }
    Ok((input.to_path_buf(), output))
}

fn run_file(enhancer: &Enhancer, input: &Path, output: &Path, options: &FileOptions) -> Result<()> {
    let bar = ProgressBar::with_draw_target(None, stderr_target());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {percent:>3}% elapsed {elapsed} eta {eta}")
            .context("progress bar template")?,
    );
    let report = enhancer
        .enhance_file(input, output, options, &|done, total| {
            // Short files finish before a bar would be worth drawing.
            if total > PROGRESS_MIN_FRAMES {
                bar.set_length(total);
                bar.set_position(done);
            }
        })
        .map_err(|e| file_error(input, output, e))?;
    bar.finish_and_clear();
    if let Some(w) = warn_non_finite(input, &report) {
        eprintln!("{w}");
    }
    println!("{}", summary(output, &report));
    Ok(())
}

/// Whether a library error is about the input file (unreadable, not WAV, truncated, ...).
fn is_input_error(e: &dfn4::Error) -> bool {
    match e {
        dfn4::Error::Wav(_) | dfn4::Error::InvalidInput(_) => true,
        dfn4::Error::Io(io) => io.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// Library errors on reading name the input, the rest the output.
fn file_error(input: &Path, output: &Path, e: dfn4::Error) -> anyhow::Error {
    let context = if is_input_error(&e) {
        format!("cannot read input {}", input.display())
    } else {
        format!("cannot enhance into {}", output.display())
    };
    anyhow::Error::new(e).context(context)
}

/// The `*.wav` files (any case of the extension) directly inside `dir`, sorted by name.
fn wav_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let is_wav = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        if is_wav && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn check_dir_paths(in_dir: &Path, out_dir: &Path) -> Result<(PathBuf, PathBuf)> {
    if out_dir.exists() && !out_dir.is_dir() {
        bail!(
            "the input {} is a directory, so the output {} must be one too",
            in_dir.display(),
            out_dir.display()
        );
    }
    if same_path(in_dir, out_dir) {
        bail!(
            "the output directory {} is the input directory; refusing to overwrite the inputs",
            out_dir.display()
        );
    }
    Ok((in_dir.to_path_buf(), out_dir.to_path_buf()))
}

fn run_dir(
    enhancer: &Enhancer,
    in_dir: &Path,
    out_dir: &Path,
    options: &FileOptions,
) -> Result<()> {
    let files = wav_files(in_dir)?;
    if files.is_empty() {
        bail!("no .wav files in {}", in_dir.display());
    }
    fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create output directory {}", out_dir.display()))?;
    let bar = ProgressBar::with_draw_target(Some(files.len() as u64), stderr_target());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files, elapsed {elapsed}")
            .context("progress bar template")?,
    );
    let start = Instant::now();
    let audio_s: Vec<Option<f64>> = files
        .par_iter()
        .map(|input| {
            let output = out_dir.join(input.file_name().unwrap_or_default());
            let result = enhancer.enhance_file(input, &output, options, &|_, _| {});
            bar.inc(1);
            match result {
                Ok(report) => {
                    bar.suspend(|| {
                        if let Some(w) = warn_non_finite(input, &report) {
                            eprintln!("{w}");
                        }
                        println!("{}", summary(&output, &report));
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
                    bar.suspend(|| eprintln!("error: {}: {msg}", input.display()));
                    None
                }
            }
        })
        .collect();
    bar.finish_and_clear();
    let failed = audio_s.iter().filter(|s| s.is_none()).count();
    let total_s: f64 = audio_s.iter().flatten().sum();
    let wall_s = start.elapsed().as_secs_f64();
    println!(
        "{} of {} files enhanced into {}: {total_s:.2} s of audio in {wall_s:.2} s wall clock (RTF {:.3})",
        files.len() - failed,
        files.len(),
        out_dir.display(),
        wall_s / total_s.max(f64::MIN_POSITIVE)
    );
    if failed > 0 {
        bail!("{failed} of {} files failed", files.len());
    }
    Ok(())
}
