//! `dfn4 devices`: the audio hosts compiled into this build and their input and output devices, with
//! the index and name that `dfn4 live --input/--output` accept and the rates each device supports.
use anyhow::{Context, Result};
use clap::Args;

use dfn4::stream::devices::{list_hosts, DeviceInfo};

/// Arguments of `dfn4 devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Only this audio host (e.g. ALSA, PulseAudio); default: every available host.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Let the audio libraries print their own diagnostics (ALSA and JACK probe every device they
    /// know and complain about each one that is absent; hidden by default).
    #[arg(long)]
    pub verbose: bool,
}

/// Runs `dfn4 devices`.
pub fn run(args: &DevicesArgs) -> Result<()> {
    let listing = || list_hosts(args.host.as_deref());
    let hosts = if args.verbose {
        listing()
    } else {
        with_stderr_silenced(listing)
    }
    .context("cannot list audio devices")?;
    if hosts.is_empty() {
        println!("no audio host available");
    }
    for host in &hosts {
        let default = if host.is_default {
            " (default host)"
        } else {
            ""
        };
        println!("host {}{default}", host.name);
        print_devices("input", &host.inputs);
        print_devices("output", &host.outputs);
    }
    Ok(())
}

fn print_devices(word: &str, devices: &[DeviceInfo]) {
    if devices.is_empty() {
        println!("  {word} devices: none");
        return;
    }
    println!("  {word} devices:");
    for d in devices {
        println!("{}", device_line(d));
    }
}

/// One device as printed: index, name, description, default marker, then its rates and formats.
fn device_line(d: &DeviceInfo) -> String {
    let marker = if d.is_default { " [default]" } else { "" };
    let description = if d.description.is_empty() || d.description == d.name {
        String::new()
    } else {
        format!(" ({})", d.description)
    };
    let mut line = format!("    {}: {}{description}{marker}", d.index, d.name);
    if let Some((rate, channels, format)) = d.default_config {
        line.push_str(&format!(
            "\n       default {rate} Hz, {channels} ch, {format}"
        ));
    }
    match d.rate_range_hz {
        Some((lo, hi)) => {
            let common: Vec<String> = d.common_rates_hz.iter().map(u32::to_string).collect();
            let channels: Vec<String> = d.channels.iter().map(u16::to_string).collect();
            let formats: Vec<String> = d.formats.iter().map(|f| f.to_string()).collect();
            line.push_str(&format!(
                "\n       rates {lo}–{hi} Hz (common: {}); channels {}; formats {}",
                if common.is_empty() {
                    "none".to_string()
                } else {
                    common.join(", ")
                },
                compress_counts(&d.channels).unwrap_or_else(|| channels.join(",")),
                formats.join(",")
            ));
        }
        None => line.push_str("\n       no supported configuration reported"),
    }
    line
}

/// `1–31` for a long run of consecutive channel counts, `None` otherwise.
fn compress_counts(counts: &[u16]) -> Option<String> {
    let (first, last) = (*counts.first()?, *counts.last()?);
    let consecutive = counts.windows(2).all(|w| w[1] == w[0] + 1);
    (consecutive && counts.len() > 3).then(|| format!("{first}–{last}"))
}

/// Runs `f` with file descriptor 2 pointed at /dev/null: the C audio libraries write their probing
/// noise straight to it, past Rust's `eprintln!`. Restored afterwards; if anything fails on the way,
/// `f` simply runs with stderr as it was.
fn with_stderr_silenced<T>(f: impl FnOnce() -> T) -> T {
    use std::os::fd::AsRawFd;
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return f();
    };
    // SAFETY: plain descriptor calls on descriptors this function owns (the duplicate of 2 and
    // /dev/null); fd 2 is put back before returning.
    let saved = unsafe { libc::dup(2) };
    if saved < 0 || unsafe { libc::dup2(null.as_raw_fd(), 2) } < 0 {
        if saved >= 0 {
            unsafe { libc::close(saved) };
        }
        return f();
    }
    let result = f();
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpal::SampleFormat;

    #[test]
    fn a_device_line_shows_index_name_rates_and_formats() {
        let d = DeviceInfo {
            index: 2,
            name: "dfn_in.monitor".into(),
            description: "Monitor of Null Output".into(),
            is_default: true,
            default_config: Some((48_000, 1, SampleFormat::F32)),
            rate_range_hz: Some((1, 384_000)),
            common_rates_hz: vec![44_100, 48_000],
            channels: (1..=31).collect(),
            formats: vec![SampleFormat::I16, SampleFormat::F32],
        };
        let line = device_line(&d);
        assert!(line.starts_with("    2: dfn_in.monitor (Monitor of Null Output) [default]"));
        assert!(line.contains("default 48000 Hz, 1 ch, f32"), "{line}");
        assert!(
            line.contains(
                "rates 1–384000 Hz (common: 44100, 48000); channels 1–31; formats i16,f32"
            ),
            "{line}"
        );
        assert_eq!(compress_counts(&[1, 2]), None);
    }
}
