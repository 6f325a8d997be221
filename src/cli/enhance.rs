//! `dfn4 enhance IN OUT`: denoises one WAV file, or every `*.wav` of a directory in parallel. The output
//! keeps the input's rate, channels, length and (unless `--out-format` says otherwise) sample format.
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use dfn4::audio_io::{read_wav, write_wav_atomic, SampleFormat, WavAudio};
use dfn4::denoiser::DenoiseParams;

use super::filter_args::FilterArgs;
use super::model::{build_enhancer, check_backend};
use super::pipeline::{enhance_audio, frames_at_48k, ChannelEnhancer};

/// Files longer than this get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_DURATION_S: f64 = 10.0;

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
    #[arg(long, value_name = "NAME", default_value = super::model::DEFAULT_BACKEND)]
    pub backend: String,
    /// Limit the noise attenuation to DB decibels (0 = no attenuation, 100 or more = unlimited).
    #[arg(long, value_name = "DB", allow_negative_numbers = true)]
    pub atten_lim_db: Option<f32>,
    /// Post-filter and LSNR gates.
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
    let params = denoise_params(args)?;
    check_backend(&args.backend)?;
    let meta = fs::metadata(&args.input)
        .with_context(|| format!("cannot read input {}", args.input.display()))?;
    if meta.is_dir() {
        run_dir(args, params)
    } else {
        run_file(args, params)
    }
}

/// Run-time parameters from the flags; a negative or non-finite attenuation limit is refused.
pub(crate) fn denoise_params(args: &EnhanceArgs) -> Result<DenoiseParams> {
    if let Some(db) = args.atten_lim_db {
        if !db.is_finite() || db < 0.0 {
            bail!("--atten-lim-db must be a finite number of dB >= 0 (got {db})");
        }
    }
    Ok(args.filter.params(args.atten_lim_db))
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

fn read_input(path: &Path) -> Result<WavAudio> {
    read_wav(path).with_context(|| format!("cannot read input {}", path.display()))
}

fn warn_non_finite(path: &Path, audio: &WavAudio) -> Option<String> {
    (audio.non_finite_replaced > 0).then(|| {
        format!(
            "warning: {}: replaced {} NaN/Inf samples with 0",
            path.display(),
            audio.non_finite_replaced
        )
    })
}

/// Enhances `audio` and writes it to `output`; returns the processing time (resampling + denoising).
fn enhance_and_write(
    audio: &WavAudio,
    output: &Path,
    out_format: Option<OutFormat>,
    enhancer: &dyn ChannelEnhancer,
    bar: &ProgressBar,
) -> Result<Duration> {
    let start = Instant::now();
    let channels = enhance_audio(audio, enhancer, &|n| bar.inc(n))?;
    let elapsed = start.elapsed();
    let format = out_format.map_or(audio.format, SampleFormat::from);
    write_wav_atomic(output, audio.sample_rate_hz, format, &channels)
        .with_context(|| format!("cannot write output {}", output.display()))?;
    Ok(elapsed)
}

fn summary(output: &Path, audio_s: f64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    format!(
        "{}: {audio_s:.2} s of audio processed in {secs:.2} s (RTF {:.3})",
        output.display(),
        secs / audio_s.max(f64::MIN_POSITIVE)
    )
}

fn stderr_target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

fn run_file(args: &EnhanceArgs, params: DenoiseParams) -> Result<()> {
    let output = if args.output.is_dir() {
        let name = args
            .input
            .file_name()
            .context("the input has no file name")?;
        args.output.join(name)
    } else {
        args.output.clone()
    };
    if same_path(&args.input, &output) {
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
    let audio = read_input(&args.input)?;
    if let Some(w) = warn_non_finite(&args.input, &audio) {
        eprintln!("{w}");
    }
    let enhancer = build_enhancer(&args.backend, args.model.as_deref(), params)?;
    let bar = if audio.duration_s() > PROGRESS_MIN_DURATION_S {
        let total =
            frames_at_48k(audio.frames(), audio.sample_rate_hz) * audio.channels.len() as u64;
        let bar = ProgressBar::with_draw_target(Some(total), stderr_target());
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {percent:>3}% elapsed {elapsed} eta {eta}")
                .context("progress bar template")?,
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let elapsed = enhance_and_write(&audio, &output, args.out_format, enhancer.as_ref(), &bar)?;
    bar.finish_and_clear();
    println!("{}", summary(&output, audio.duration_s(), elapsed));
    Ok(())
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

fn run_dir(args: &EnhanceArgs, params: DenoiseParams) -> Result<()> {
    let (in_dir, out_dir) = (&args.input, &args.output);
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
    let files = wav_files(in_dir)?;
    if files.is_empty() {
        bail!("no .wav files in {}", in_dir.display());
    }
    fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create output directory {}", out_dir.display()))?;
    let enhancer = build_enhancer(&args.backend, args.model.as_deref(), params)?;
    let bar = ProgressBar::with_draw_target(Some(files.len() as u64), stderr_target());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files, elapsed {elapsed}")
            .context("progress bar template")?,
    );
    let hidden = ProgressBar::hidden();
    let start = Instant::now();
    let audio_s: Vec<Option<f64>> = files
        .par_iter()
        .map(|input| {
            let output = out_dir.join(input.file_name().unwrap_or_default());
            // Errors are printed after the input's path, so the read error need not repeat it.
            let result = read_wav(input)
                .context("unreadable input")
                .and_then(|audio| {
                    if let Some(w) = warn_non_finite(input, &audio) {
                        bar.suspend(|| eprintln!("{w}"));
                    }
                    let elapsed = enhance_and_write(
                        &audio,
                        &output,
                        args.out_format,
                        enhancer.as_ref(),
                        &hidden,
                    )?;
                    Ok((audio.duration_s(), elapsed))
                });
            bar.inc(1);
            match result {
                Ok((secs, elapsed)) => {
                    bar.suspend(|| println!("{}", summary(&output, secs, elapsed)));
                    Some(secs)
                }
                Err(e) => {
                    let msg = format!("{e:#}").replace('\n', " ");
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
