//! `dfn4 live`: denoises a microphone (or any capture device) into speakers (or any playback device)
//! in real time, through [`dfn4::stream::LivePipeline`]. Prints the devices and the expected latency at
//! start, a status line while running (on a terminal), and the measured latency, compute statistics
//! and xrun counters at the end (as JSON with `--json`).
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use dfn4::backend::{registry, Backend, ModelSource};
use dfn4::denoiser::{DenoiseParams, Denoiser};
use dfn4::stream::meters::LiveMeters;
use dfn4::stream::{LiveConfig, LiveInfo, LivePipeline, LiveSummary, WorkerSpec};

use super::filter_args::FilterArgs;

/// How often the status line is refreshed on a terminal.
const STATUS_EVERY: Duration = Duration::from_millis(500);

/// Arguments of `dfn4 live`.
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Capture device: index or name as listed by `dfn4 devices` (default: the host's default input).
    #[arg(long, value_name = "DEVICE")]
    pub input: Option<String>,
    /// Playback device: index or name as listed by `dfn4 devices` (default: the host's default output).
    #[arg(long, value_name = "DEVICE")]
    pub output: Option<String>,
    /// Audio host, e.g. ALSA or PulseAudio (default: PulseAudio when a server runs, else ALSA).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Inference backend ("native" is the exact f32 engine).
    #[arg(long, value_name = "NAME", default_value = registry::default_backend())]
    pub backend: String,
    /// Run several backends on the same input, each in its own worker thread (e.g. native,tch-cpu);
    /// the first one feeds the output, all are metered.
    #[arg(
        long,
        value_name = "A,B",
        value_delimiter = ',',
        conflicts_with = "backend"
    )]
    pub compare: Vec<String>,
    /// Model weights (safetensors); default: the weights embedded in this build.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Start in bypass: play the input, delayed like the denoised signal, unprocessed.
    #[arg(long)]
    pub bypass: bool,
    /// Show the meter window (latency per backend, levels, xruns; bypass, backend and attenuation
    /// controls) while running; closing it ends the run.
    #[cfg(feature = "gui")]
    #[arg(long)]
    pub gui: bool,
    /// Without the `gui` feature, `--gui` is accepted only to say which feature it needs.
    #[cfg(not(feature = "gui"))]
    #[arg(long, hide = true)]
    pub gui: bool,
    /// Attenuation limit, post-filter and LSNR gates (same options, meaning and defaults as
    /// `dfn4 enhance`).
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Frames per device buffer, both devices (240 = 5 ms at 48 kHz; with the default prefill the
    /// latency at start is 50 ms).
    #[arg(long, value_name = "FRAMES", default_value_t = 240)]
    pub buffer_frames: u32,
    /// Output samples to queue before playback starts (default: one output buffer plus one input
    /// buffer or 10 ms hop, whichever is longer; less lowers the latency but underruns when the output
    /// callback comes before the worker has denoised the newest input block).
    #[arg(long, value_name = "FRAMES")]
    pub prefill_frames: Option<usize>,
    /// Device sample rate in Hz (default: 48000 when the devices support it; others are resampled).
    #[arg(long, value_name = "HZ")]
    pub rate: Option<u32>,
    /// Device channel count (default: mono when supported; stereo input is mixed down, output
    /// duplicated).
    #[arg(long, value_name = "N")]
    pub channels: Option<u16>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Write the captured input (mono, 32-bit float, device rate) to this WAV file.
    #[arg(long, value_name = "WAV")]
    pub record_input: Option<PathBuf>,
    /// Write the played output (mono, 32-bit float, device rate) to this WAV file.
    #[arg(long, value_name = "WAV")]
    pub record_output: Option<PathBuf>,
    /// Print the end-of-run summary as one JSON object on stdout (start information goes to stderr).
    #[arg(long)]
    pub json: bool,
}

impl LiveArgs {
    /// The backends to run, in order (the first feeds the output).
    pub fn backends(&self) -> Vec<String> {
        if self.compare.is_empty() {
            vec![self.backend.clone()]
        } else {
            self.compare.clone()
        }
    }
}

/// One worker per backend name; workers that name the same backend share it (its weights are
/// immutable), and the weights are parsed once for all.
pub(crate) fn build_workers(
    names: &[String],
    model: Option<&Path>,
    params: DenoiseParams,
) -> Result<Vec<WorkerSpec>> {
    if names.is_empty() {
        bail!("--compare needs at least one backend");
    }
    let names_ref: Vec<&str> = names.iter().map(String::as_str).collect();
    let backends = registry::create_many(&names_ref, ModelSource::from_option(model))?;
    backends
        .into_iter()
        .map(|backend| {
            Ok(WorkerSpec {
                backend: backend.name().to_string(),
                denoiser: Denoiser::new(backend, params).context("cannot create the denoiser")?,
            })
        })
        .collect()
}

/// Runs `dfn4 live`.
pub fn run(args: &LiveArgs) -> Result<()> {
    #[cfg(not(feature = "gui"))]
    if args.gui {
        return Err(super::missing_feature("`--gui`", "gui"));
    }
    let params = args.filter.params()?;
    if let Some(s) = args.duration {
        if !s.is_finite() || s <= 0.0 {
            bail!("--duration must be a positive number of seconds (got {s})");
        }
    }
    if args.buffer_frames == 0 {
        bail!("--buffer-frames must be at least 1");
    }
    let workers = build_workers(&args.backends(), args.model.as_deref(), params)?;
    let config = LiveConfig {
        host: args.host.clone(),
        input: args.input.clone(),
        output: args.output.clone(),
        workers,
        rate_hz: args.rate,
        channels: args.channels,
        buffer_frames: Some(args.buffer_frames),
        prefill_frames: args.prefill_frames,
        duration: args.duration.map(Duration::from_secs_f64),
        record_input: args.record_input.clone(),
        record_output: args.record_output.clone(),
        atten_lim_db: params.atten_lim_db,
        bypass: args.bypass,
    };
    let pipeline = LivePipeline::start(config).context("cannot start live denoising")?;
    let start_text = start_report(pipeline.info(), &args.backends());
    if args.json {
        eprintln!("{start_text}");
    } else {
        println!("{start_text}");
    }
    let meters = pipeline.meters();
    {
        let meters = Arc::clone(&meters);
        // Ctrl-C ends the run cleanly (recordings finalised); failing to install it is not fatal.
        if let Err(e) = ctrlc::set_handler(move || meters.running.store(false, Ordering::Relaxed)) {
            eprintln!("warning: cannot install the Ctrl-C handler: {e}");
        }
    }

    // With `--gui` the meter window is the display: it runs on the main thread and blocks until it is
    // closed (which clears `running`) or the pipeline ends; then the run is stopped and summarised.
    #[cfg(feature = "gui")]
    let gui_shown = if args.gui {
        let shown =
            dfn4::gui::run_meter(Arc::clone(&meters)).context("cannot show the meter window");
        meters.running.store(false, Ordering::Relaxed);
        shown?;
        true
    } else {
        false
    };
    #[cfg(not(feature = "gui"))]
    let gui_shown = false;
    if !gui_shown && std::io::stderr().is_terminal() && !args.json {
        while pipeline.is_running() {
            eprint!("\r{}", status_line(&meters));
            std::thread::sleep(STATUS_EVERY);
        }
        eprintln!();
    }

    let mut summary = pipeline.join();
    let failure = summary.failure.take();
    if args.json {
        println!("{}", summary_json(&summary, &meters));
    } else {
        println!("{}", summary_report(&summary));
    }
    match failure {
        Some(e) => Err(anyhow::Error::new(e).context("live denoising stopped")),
        None => Ok(()),
    }
}

fn buffer_text(frames: (Option<u32>, Option<u32>)) -> String {
    match frames {
        (Some(asked), Some(got)) if asked != got => format!("{asked} frames asked, {got} granted"),
        (_, Some(got)) => format!("{got} frames"),
        (Some(asked), None) => format!("{asked} frames"),
        (None, None) => "host default".into(),
    }
}

/// The start-up report: devices and the latency the configuration implies.
fn start_report(info: &LiveInfo, backends: &[String]) -> String {
    let stream = |label: &str, s: &dfn4::stream::StreamInfo| {
        format!(
            "{label} {}: {} Hz, {} ch, {}, buffer {}",
            s.device,
            s.rate_hz,
            s.channels,
            s.format,
            buffer_text(s.buffer_frames)
        )
    };
    format!(
        "live on {} with {}\n{}\n{}\nlatency at start: algorithmic {:.1} ms + buffering {:.1} ms \
         (input block {:.1}, output buffer {:.1}, prefill {:.1}, resampling {:.1}) = {:.1} ms",
        info.host,
        backends.join(" + "),
        stream("input ", &info.input),
        stream("output", &info.output),
        info.algorithmic_ms,
        info.buffer_ms(),
        info.input_block_ms,
        info.output_block_ms,
        info.prefill_ms,
        info.resampling_ms,
        info.expected_ms()
    )
}

/// One status line for a terminal.
fn status_line(m: &LiveMeters) -> String {
    let mut line = format!(
        "in {:6.1} dBFS  out {:6.1} dBFS  latency {:5.1} ms  xruns {}",
        m.input_peak_db.load().max(-99.9),
        m.output_peak_db.load().max(-99.9),
        m.measured_latency_ms.load(),
        m.input_overruns.load(Ordering::Relaxed)
            + m.output_underruns.load(Ordering::Relaxed)
            + m.host_xruns.load(Ordering::Relaxed)
    );
    for w in &m.workers {
        line.push_str(&format!(
            "  | {} {:.2}/{:.2} ms RTF {:.3}",
            w.backend,
            w.frame_ms_median.load(),
            w.frame_ms_p99.load(),
            w.rtf.load()
        ));
    }
    line
}

/// The end-of-run report.
fn summary_report(s: &LiveSummary) -> String {
    let mut out = format!(
        "ran {:.2} s; xruns {} (input overruns {}, output underruns {}, host xruns {}); \
         input gaps by the host's timestamps {}",
        s.elapsed.as_secs_f64(),
        s.xruns(),
        s.input_overruns,
        s.output_underruns,
        s.host_xruns,
        s.input_gaps
    );
    match s.measured_latency {
        Some(l) => out.push_str(&format!(
            "\nmeasured latency: median {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} measurements)",
            l.median_ms, l.p99_ms, l.max_ms, l.count
        )),
        None => out.push_str("\nmeasured latency: not measured (no audio made it through)"),
    }
    if s.output_trimmed_samples > 0 {
        out.push_str(&format!(
            "\nlatency recovered after stalls: {} queued output samples skipped in {} cuts",
            s.output_trimmed_samples, s.output_trims
        ));
    }
    for w in &s.workers {
        out.push_str(&format!(
            "\nworker {}: {} hops, compute per hop median {:.3} ms, p99 {:.3} ms, max {:.3} ms; \
             RTF median {:.4}, p99 {:.4}",
            w.backend,
            w.frames,
            w.compute.median_ms,
            w.compute.p99_ms,
            w.compute.max_ms,
            w.rtf_median,
            w.rtf_p99
        ));
    }
    for r in &s.recordings {
        out.push_str(&format!(
            "\nrecorded {} ({} samples at {} Hz)",
            r.path.display(),
            r.samples,
            r.rate_hz
        ));
    }
    if s.tap_dropped_samples > 0 {
        out.push_str(&format!(
            "\nwarning: the recordings dropped {} samples (disk too slow)",
            s.tap_dropped_samples
        ));
    }
    out
}

fn stats_json(d: &dfn4::stream::stats::DurationStats) -> serde_json::Value {
    serde_json::json!({
        "median_ms": d.median_ms, "p99_ms": d.p99_ms, "max_ms": d.max_ms,
        "mean_ms": d.mean_ms, "count": d.count,
    })
}

/// The end-of-run summary as JSON.
fn summary_json(s: &LiveSummary, m: &LiveMeters) -> serde_json::Value {
    serde_json::json!({
        "elapsed_s": s.elapsed.as_secs_f64(),
        "xruns": s.xruns(),
        "input_overruns": s.input_overruns,
        "input_gaps": s.input_gaps,
        "output_underruns": s.output_underruns,
        "host_xruns": s.host_xruns,
        "output_trimmed_samples": s.output_trimmed_samples,
        "output_trims": s.output_trims,
        "tap_dropped_samples": s.tap_dropped_samples,
        "algorithmic_latency_ms": m.algorithmic_latency_ms.load(),
        "buffer_latency_ms": m.buffer_latency_ms.load(),
        "measured_latency": s.measured_latency.as_ref().map(stats_json),
        "workers": s.workers.iter().map(|w| serde_json::json!({
            "backend": w.backend,
            "frames": w.frames,
            "compute": stats_json(&w.compute),
            "rtf_median": w.rtf_median,
            "rtf_p99": w.rtf_p99,
            "overruns": m.workers.iter().find(|x| x.backend == w.backend)
                .map_or(0, |x| x.overruns.load(Ordering::Relaxed)),
            "output_dropped_samples": w.output_dropped_samples,
        })).collect::<Vec<_>>(),
        "recordings": s.recordings.iter().map(|r| serde_json::json!({
            "path": r.path.display().to_string(), "samples": r.samples, "rate_hz": r.rate_hz,
        })).collect::<Vec<_>>(),
        "failure": s.failure.as_ref().map(|e| e.to_string()),
    })
}
