//! Checks a recording made through a running audio server against the plugin's own processing: is the
//! server's output the plugin's output, continuous, at the reported latency, and denoised?
//!
//! The recording is a 2-channel WAV written by one client in the same graph cycles: channel 0 is the
//! microphone the filter reads (its input), channel 1 the filter's output (see
//! `scripts/plugin/pipewire_e2e.sh`). The reference is the plugin's engine run here on channel 0 from a
//! fresh state; its output lags channel 0 by exactly [`Channel::latency_samples`].
//!
//! - **exact**: how long channel 1 equals the reference sample for sample (within `--tol`) from the
//!   start. Until the first lost or repeated sample of the server they are equal.
//! - **continuity**: in blocks of 100 ms the lag between channel 1 and the reference is tracked (a block
//!   matches a lag when its error is at least 15 dB below the reference's energy; after a
//!   discontinuity the model's state differs a little from the reference's, so equality is too
//!   strict there). Every change of lag is a discontinuity: negative = samples lost, positive = samples
//!   repeated or latency grown. The final lag minus the first is the latency growth.
//! - **inexact blocks**: blocks that match a lag but not sample for sample, and the runs of them. With
//!   `--bypass` (the filter ran with its bypass switch on: the model still runs, the output is the input
//!   delayed) the reference has no state, so every lost or repeated host buffer starts an inexact run
//!   or is a discontinuity, exactly; denoising, everything after the first glitch is inexact.
//! - `--identity`: the recording went through a filter that copies (PipeWire's builtin `copy`, the
//!   baseline of the server itself): the reference is the input, latency 0.
//! - **denoised** (with `--played P.wav --clean C.wav`, the file the player played and its clean
//!   speech): energy of channel 0 and channel 1 over the 10 ms frames where the clean speech is silent
//!   (below -60 dBFS), in dB.
//!
//! `cargo run --release -p dfn4-plugin --example pipewire_check -- REC.wav [--bypass] [--tol 1e-4]
//!  [--played P.wav --clean C.wav] [--require-exact-s S] [--max-discontinuities N]` prints one
//! `key: value` line per figure and exits with 1 when a requirement fails: the measured latency differs
//! from the reported one, fewer than `S` exact seconds, more than `N` discontinuities, or (with
//! `--clean`, without `--bypass`) less than 10 dB of noise reduction.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dfn4::audio_io::read_wav;
use dfn4_plugin::engine::Channel;

/// Block of the lag tracking (100 ms at 48 kHz).
const BLOCK_SAMPLES: usize = 4800;
/// Lags searched around the current one when a block no longer matches it.
const SEARCH_SAMPLES: isize = 8192;
/// A block matches a lag when the error is this far below the reference's energy.
const MATCH_DB: f64 = 15.0;
/// Blocks quieter than this (reference energy, dBFS) carry too little to match and are skipped.
const SILENT_DBFS: f64 = -50.0;
/// Clean-speech frames below this energy are noise-only.
const NOISE_ONLY_DBFS: f64 = -60.0;

struct Args {
    recording: PathBuf,
    bypass: bool,
    identity: bool,
    tol: f32,
    played: Option<PathBuf>,
    clean: Option<PathBuf>,
    require_exact_s: f64,
    max_discontinuities: usize,
}

const USAGE: &str =
    "usage: pipewire_check REC.wav [--bypass] [--tol T] [--played P.wav --clean C.wav] \
                     [--require-exact-s S] [--max-discontinuities N]";

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut args = Args {
        recording: PathBuf::new(),
        bypass: false,
        identity: false,
        tol: 1e-4,
        played: None,
        clean: None,
        require_exact_s: 0.0,
        max_discontinuities: usize::MAX,
    };
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--bypass" => args.bypass = true,
            "--identity" => args.identity = true,
            "--tol" => args.tol = parse(&value()?)?,
            "--played" => args.played = Some(value()?.into()),
            "--clean" => args.clean = Some(value()?.into()),
            "--require-exact-s" => args.require_exact_s = parse(&value()?)?,
            "--max-discontinuities" => args.max_discontinuities = parse(&value()?)?,
            _ if a.starts_with("--") => return Err(format!("unknown option {a}\n{USAGE}")),
            _ if args.recording.as_os_str().is_empty() => args.recording = a.into(),
            _ => return Err(format!("unexpected argument {a}\n{USAGE}")),
        }
    }
    if args.recording.as_os_str().is_empty() || args.played.is_some() != args.clean.is_some() {
        return Err(USAGE.into());
    }
    Ok(args)
}

fn parse<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

fn mono(path: &Path) -> Result<Vec<f32>, String> {
    let audio = read_wav(path).map_err(|e| format!("{}: {e}", path.display()))?;
    audio
        .channels
        .into_iter()
        .next()
        .ok_or_else(|| format!("{}: no channels", path.display()))
}

fn mean_square(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64
}

fn db(power: f64) -> f64 {
    10.0 * (power + 1e-20).log10()
}

/// Error energy of `out[start + lag ..]` against `reference[start ..]` over one block, relative to the
/// reference's energy (dB; lower is better), and the largest sample difference. `None` when the shifted
/// block leaves the recording.
fn block_error(out: &[f32], reference: &[f32], start: usize, lag: isize) -> Option<(f64, f32)> {
    let from = usize::try_from(start as isize + lag).ok()?;
    if from + BLOCK_SAMPLES > out.len() || start + BLOCK_SAMPLES > reference.len() {
        return None;
    }
    let o = &out[from..from + BLOCK_SAMPLES];
    let r = &reference[start..start + BLOCK_SAMPLES];
    let (mut err, mut energy, mut max_abs) = (0.0f64, 0.0f64, 0.0f32);
    for (a, b) in o.iter().zip(r) {
        err += f64::from(a - b) * f64::from(a - b);
        energy += f64::from(*b) * f64::from(*b);
        max_abs = max_abs.max((a - b).abs());
    }
    Some((db(err) - db(energy), max_abs))
}

/// Where `played` starts in `input`: the first offset (within 10 s) from which 10 ms match exactly.
fn find_start(input: &[f32], played: &[f32], rate_hz: u32) -> Option<usize> {
    let probe = (rate_hz as usize / 100).min(played.len());
    let first = played
        .iter()
        .position(|&v| v != 0.0)?
        .min(played.len() - probe);
    let needle = &played[first..first + probe];
    (0..(rate_hz as usize * 10).min(input.len().saturating_sub(probe)))
        .find(|&i| &input[i..i + probe] == needle)
        .and_then(|i| i.checked_sub(first))
}

struct Report {
    exact_samples: usize,
    compared: usize,
    max_diff_exact: f32,
    first_lag: Option<isize>,
    last_lag: Option<isize>,
    matched: usize,
    inexact: usize,
    unmatched: usize,
    silent: usize,
    discontinuities: Vec<(usize, isize)>,
    /// Starts of runs of consecutive inexact blocks (each a glitch when the reference has no state).
    inexact_runs: Vec<usize>,
}

/// Compares the server's output with the reference (aligned with the input): exactly from the start,
/// then lag by lag in blocks.
fn compare(output: &[f32], reference: &[f32], reported: usize, tol: f32) -> Report {
    let compared = reference.len().min(output.len().saturating_sub(reported));
    let exact_samples = (0..compared)
        .find(|&n| (output[n + reported] - reference[n]).abs() > tol)
        .unwrap_or(compared);
    let max_diff_exact = (0..exact_samples)
        .map(|n| (output[n + reported] - reference[n]).abs())
        .fold(0.0f32, f32::max);
    let mut r = Report {
        exact_samples,
        compared,
        max_diff_exact,
        first_lag: None,
        last_lag: None,
        matched: 0,
        inexact: 0,
        unmatched: 0,
        silent: 0,
        discontinuities: Vec::new(),
        inexact_runs: Vec::new(),
    };
    let mut previous_inexact = false;
    let mut start = 0;
    while start + BLOCK_SAMPLES <= reference.len() {
        if db(mean_square(&reference[start..start + BLOCK_SAMPLES])) < SILENT_DBFS {
            r.silent += 1;
            start += BLOCK_SAMPLES;
            continue;
        }
        let fits = |lag: isize| {
            block_error(output, reference, start, lag).filter(|(err_db, _)| *err_db <= -MATCH_DB)
        };
        let current = r.last_lag.unwrap_or(reported as isize);
        // The current lag first, then the nearest ones, so the smallest jump that explains the block wins.
        let found = std::iter::once(current)
            .chain((1..=SEARCH_SAMPLES).flat_map(|d| [current - d, current + d]))
            .find_map(|lag| fits(lag).map(|(_, max_abs)| (lag, max_abs)));
        match found {
            Some((lag, max_abs)) => {
                r.matched += 1;
                let inexact = max_abs > tol;
                if inexact {
                    r.inexact += 1;
                    if !previous_inexact {
                        r.inexact_runs.push(start);
                    }
                }
                previous_inexact = inexact;
                if r.last_lag.is_some_and(|prev| prev != lag) {
                    r.discontinuities.push((start, lag - current));
                }
                r.first_lag.get_or_insert(lag);
                r.last_lag = Some(lag);
            }
            None => r.unmatched += 1,
        }
        start += BLOCK_SAMPLES;
    }
    r
}

/// Energy (dB) of `input` and of `output` (shifted by `lag`) over the noise-only 10 ms frames of `clean`,
/// which starts at `offset` in the input.
fn noise_only_db(
    input: &[f32],
    output: &[f32],
    clean: &[f32],
    offset: usize,
    lag: usize,
    frame: usize,
) -> Option<(f64, f64)> {
    let (mut e_in, mut e_out, mut n) = (0.0f64, 0.0f64, 0usize);
    for (k, c) in clean.chunks_exact(frame).enumerate() {
        let at = offset + k * frame;
        if at + lag + frame > output.len() || at + frame > input.len() {
            break;
        }
        if db(mean_square(c)) < NOISE_ONLY_DBFS {
            e_in += mean_square(&input[at..at + frame]);
            e_out += mean_square(&output[at + lag..at + lag + frame]);
            n += 1;
        }
    }
    (n > 0).then(|| (db(e_in / n as f64), db(e_out / n as f64)))
}

fn run(args: &Args) -> Result<bool, String> {
    let audio =
        read_wav(&args.recording).map_err(|e| format!("{}: {e}", args.recording.display()))?;
    if audio.channels.len() != 2 {
        return Err(format!(
            "{} channels, expected 2 (input, output)",
            audio.channels.len()
        ));
    }
    let rate_hz = audio.sample_rate_hz;
    let (input, output) = (&audio.channels[0], &audio.channels[1]);
    // The reference, aligned with the input: reference[n] is the plugin's answer to input[n]. Computed
    // in the floating-point mode the plugin's `run` sets (flush-to-zero, denormals-are-zero), or the
    // first denormal would make the two differ in the last bits and drift apart from there.
    let mut reference = input.clone();
    let reported = if args.identity {
        0
    } else {
        let backend = dfn4_plugin::shared_backend().ok_or("the default backend does not build")?;
        let mut channel = Channel::new(backend, rate_hz).map_err(|e| e.to_string())?;
        channel.set_controls(100.0, args.bypass);
        let _flush = dfn4_plugin::ladspa::DenormalGuard::new();
        for block in reference.chunks_mut(1024) {
            channel.process(block);
        }
        channel.latency_samples()
    };
    let reference = &reference[reported.min(reference.len())..];
    let seconds = |n: usize| n as f64 / f64::from(rate_hz);
    let r = compare(output, reference, reported, args.tol);

    println!("recording_s: {:.2}", seconds(input.len()));
    println!("rate_hz: {rate_hz}");
    let mode = if args.identity {
        "identity (a filter that copies: output = input)"
    } else if args.bypass {
        "bypass (model running, output = delayed input)"
    } else {
        "denoise"
    };
    println!("mode: {mode}");
    println!("latency_reported_samples: {reported}");
    match r.first_lag {
        Some(m) => println!("latency_measured_samples: {m}"),
        None => println!("latency_measured_samples: none (no block matched)"),
    }
    println!(
        "exact_s: {:.3} of {:.3}",
        seconds(r.exact_samples),
        seconds(r.compared)
    );
    println!("exact_max_abs_diff: {:.3e}", r.max_diff_exact);
    println!("blocks_matched: {}", r.matched);
    println!("blocks_matched_inexact: {}", r.inexact);
    println!("blocks_unmatched: {}", r.unmatched);
    println!("inexact_runs: {}", r.inexact_runs.len());
    for at in r.inexact_runs.iter().take(20) {
        println!("inexact_run: from {:.1} s", seconds(*at));
    }
    println!("blocks_silent: {}", r.silent);
    println!("discontinuities: {}", r.discontinuities.len());
    for (at, change) in r.discontinuities.iter().take(20) {
        println!(
            "discontinuity: at {:.3} s, lag {change:+} samples",
            seconds(*at)
        );
    }
    let growth = r.last_lag.zip(r.first_lag).map_or(0, |(b, a)| b - a);
    println!("latency_growth_samples: {growth}");

    let mut failures = Vec::new();
    if r.first_lag != Some(reported as isize) {
        failures.push(format!(
            "measured latency {:?} != reported {reported}",
            r.first_lag
        ));
    }
    if seconds(r.exact_samples) < args.require_exact_s {
        failures.push(format!(
            "exact for {:.3} s, required {:.3} s",
            seconds(r.exact_samples),
            args.require_exact_s
        ));
    }
    if r.discontinuities.len() > args.max_discontinuities {
        failures.push(format!(
            "{} discontinuities, at most {} allowed",
            r.discontinuities.len(),
            args.max_discontinuities
        ));
    }
    if let (Some(played), Some(clean)) = (&args.played, &args.clean) {
        let (played, clean) = (mono(played)?, mono(clean)?);
        let offset =
            find_start(input, &played, rate_hz).ok_or("the played file is not in the input")?;
        let (in_db, out_db) = noise_only_db(
            input,
            output,
            &clean,
            offset,
            reported,
            rate_hz as usize / 100,
        )
        .ok_or("no noise-only frames")?;
        println!("played_from_s: {:.3}", seconds(offset));
        println!("noise_only_in_db: {in_db:.1}");
        println!("noise_only_out_db: {out_db:.1}");
        if !args.bypass && !args.identity && in_db - out_db < 10.0 {
            failures.push(format!(
                "noise-only frames lowered by {:.1} dB only",
                in_db - out_db
            ));
        }
    }
    for f in &failures {
        println!("result: FAIL: {f}");
    }
    if failures.is_empty() {
        println!("result: ok");
    }
    Ok(failures.is_empty())
}

fn main() -> ExitCode {
    let outcome = parse_args().and_then(|args| run(&args));
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("pipewire_check: {e}");
            ExitCode::from(2)
        }
    }
}
