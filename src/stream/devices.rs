//! Audio hosts and devices: listing them with their supported rates (`dfn4 devices`), finding one by
//! name or index, and choosing the stream configuration to open it with (48 kHz, mono and `f32` when
//! the device offers them, since that avoids any conversion).
use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{
    BufferSize, SampleFormat, StreamConfig, SupportedBufferSize, SupportedStreamConfigRange,
};

use crate::config::SAMPLE_RATE_HZ;
use crate::{Error, Result};

/// Rates checked and shown by `dfn4 devices`.
pub const COMMON_RATES_HZ: [u32; 9] = [
    8_000, 16_000, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000, 192_000,
];

/// Which way audio flows through a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Capture (microphone, monitor source).
    Input,
    /// Playback (speakers, sink).
    Output,
}

impl Direction {
    fn word(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

/// One device as listed by `dfn4 devices`.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// Position in the host's list of devices of this direction (what `--input N` / `--output N` use).
    pub index: usize,
    /// The host's identifier of the device (what `--input NAME` matches first).
    pub name: String,
    /// Human-readable description.
    pub description: String,
    /// Whether this is the host's default device of this direction.
    pub is_default: bool,
    /// Default configuration: rate (Hz), channels, sample format.
    pub default_config: Option<(u32, u16, SampleFormat)>,
    /// Lowest and highest supported rate over all configurations, Hz.
    pub rate_range_hz: Option<(u32, u32)>,
    /// Which of [`COMMON_RATES_HZ`] some configuration supports.
    pub common_rates_hz: Vec<u32>,
    /// Supported channel counts (sorted, distinct).
    pub channels: Vec<u16>,
    /// Supported sample formats (distinct).
    pub formats: Vec<SampleFormat>,
}

/// One audio host with its devices.
#[derive(Debug, Clone)]
pub struct HostInfo {
    /// Host name ("ALSA", "PulseAudio", ...).
    pub name: String,
    /// Whether `cpal` would pick this host by default.
    pub is_default: bool,
    /// Capture devices.
    pub inputs: Vec<DeviceInfo>,
    /// Playback devices.
    pub outputs: Vec<DeviceInfo>,
}

fn audio_err(what: impl std::fmt::Display, e: cpal::Error) -> Error {
    Error::Audio(format!("{what}: {e}"))
}

/// Names of the hosts compiled into this build that are available now.
pub fn available_host_names() -> Vec<&'static str> {
    cpal::available_hosts().iter().map(|h| h.name()).collect()
}

/// The host called `name` (case-insensitive; "pulse" also means PulseAudio), or cpal's default host.
pub fn select_host(name: Option<&str>) -> Result<cpal::Host> {
    let Some(name) = name else {
        return Ok(cpal::default_host());
    };
    let wanted = if name.eq_ignore_ascii_case("pulse") {
        "PulseAudio"
    } else {
        name
    };
    let id = cpal::available_hosts()
        .into_iter()
        .find(|h| h.name().eq_ignore_ascii_case(wanted))
        .ok_or_else(|| {
            Error::Audio(format!(
                "unknown or unavailable audio host \"{name}\" (available: {})",
                available_host_names().join(", ")
            ))
        })?;
    cpal::host_from_id(id)
        .map_err(|e| audio_err(format!("cannot open audio host {}", id.name()), e))
}

fn device_name(device: &cpal::Device) -> String {
    device
        .id()
        .map(|id| id.id().to_string())
        .unwrap_or_else(|_| device.to_string())
}

fn device_description(device: &cpal::Device) -> String {
    device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_default()
}

fn devices_of(host: &cpal::Host, direction: Direction) -> Result<Vec<cpal::Device>> {
    let devices = match direction {
        Direction::Input => host.input_devices().map(|d| d.collect()),
        Direction::Output => host.output_devices().map(|d| d.collect()),
    };
    devices.map_err(|e| audio_err(format!("cannot list {} devices", direction.word()), e))
}

fn default_of(host: &cpal::Host, direction: Direction) -> Option<cpal::Device> {
    match direction {
        Direction::Input => host.default_input_device(),
        Direction::Output => host.default_output_device(),
    }
}

fn ranges_of(device: &cpal::Device, direction: Direction) -> Vec<SupportedStreamConfigRange> {
    let ranges = match direction {
        Direction::Input => device.supported_input_configs().map(|r| r.collect()),
        Direction::Output => device.supported_output_configs().map(|r| r.collect()),
    };
    ranges.unwrap_or_default()
}

fn describe(
    index: usize,
    device: &cpal::Device,
    direction: Direction,
    default_name: Option<&str>,
) -> DeviceInfo {
    let name = device_name(device);
    let ranges = ranges_of(device, direction);
    let default_config = match direction {
        Direction::Input => device.default_input_config(),
        Direction::Output => device.default_output_config(),
    }
    .ok()
    .map(|c| (c.sample_rate(), c.channels(), c.sample_format()));
    let rate_range_hz = ranges
        .iter()
        .map(|r| (r.min_sample_rate(), r.max_sample_rate()))
        .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)));
    let common_rates_hz = COMMON_RATES_HZ
        .into_iter()
        .filter(|&hz| ranges.iter().any(|r| r.contains_rate(hz)))
        .collect();
    let mut channels: Vec<u16> = ranges.iter().map(|r| r.channels()).collect();
    channels.sort_unstable();
    channels.dedup();
    let mut formats: Vec<SampleFormat> = Vec::new();
    for f in ranges.iter().map(|r| r.sample_format()) {
        if !formats.contains(&f) {
            formats.push(f);
        }
    }
    DeviceInfo {
        index,
        is_default: default_name == Some(name.as_str()),
        description: device_description(device),
        name,
        default_config,
        rate_range_hz,
        common_rates_hz,
        channels,
        formats,
    }
}

/// The devices of one direction of `host`, described.
pub fn describe_devices(host: &cpal::Host, direction: Direction) -> Result<Vec<DeviceInfo>> {
    let default_name = default_of(host, direction).map(|d| device_name(&d));
    Ok(devices_of(host, direction)?
        .iter()
        .enumerate()
        .map(|(i, d)| describe(i, d, direction, default_name.as_deref()))
        .collect())
}

/// Every available host (or only the one called `host_name`) with its devices.
pub fn list_hosts(host_name: Option<&str>) -> Result<Vec<HostInfo>> {
    let default_id = cpal::default_host().id();
    let ids: Vec<cpal::HostId> = match host_name {
        Some(name) => vec![select_host(Some(name))?.id()],
        None => cpal::available_hosts(),
    };
    let mut hosts = Vec::new();
    for id in ids {
        let host = cpal::host_from_id(id)
            .map_err(|e| audio_err(format!("cannot open audio host {}", id.name()), e))?;
        hosts.push(HostInfo {
            name: id.name().to_string(),
            is_default: id == default_id,
            inputs: describe_devices(&host, Direction::Input)?,
            outputs: describe_devices(&host, Direction::Output)?,
        });
    }
    Ok(hosts)
}

/// The device of `host` that `selector` names: an index into the host's devices of that direction,
/// else an exact name or description (case-insensitive), else a unique part of one. `None` is the
/// host's default device. The error lists the available devices.
pub fn find_device(
    host: &cpal::Host,
    selector: Option<&str>,
    direction: Direction,
) -> Result<cpal::Device> {
    let word = direction.word();
    let devices = devices_of(host, direction)?;
    let listing = || {
        let names: Vec<String> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| format!("{i}: {}", device_name(d)))
            .collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    let Some(sel) = selector else {
        return default_of(host, direction).ok_or_else(|| {
            Error::Audio(format!(
                "no default {word} device on {} (available: {})",
                host.id().name(),
                listing()
            ))
        });
    };
    if let Ok(index) = sel.parse::<usize>() {
        return devices.get(index).cloned().ok_or_else(|| {
            Error::Audio(format!(
                "no {word} device with index {index} (available: {})",
                listing()
            ))
        });
    }
    let lower = sel.to_lowercase();
    let exact = devices.iter().find(|d| {
        device_name(d).to_lowercase() == lower || device_description(d).to_lowercase() == lower
    });
    if let Some(d) = exact {
        return Ok(d.clone());
    }
    let partial: Vec<&cpal::Device> = devices
        .iter()
        .filter(|d| {
            device_name(d).to_lowercase().contains(&lower)
                || device_description(d).to_lowercase().contains(&lower)
        })
        .collect();
    match partial.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::Audio(format!(
            "unknown {word} device \"{sel}\" (available: {})",
            listing()
        ))),
        many => Err(Error::Audio(format!(
            "{word} device \"{sel}\" is ambiguous: it matches {} (available: {})",
            many.iter()
                .map(|d| device_name(d))
                .collect::<Vec<_>>()
                .join(", "),
            listing()
        ))),
    }
}

/// The device's identifier, for messages.
pub fn name_of(device: &cpal::Device) -> String {
    device_name(device)
}

/// Preference among sample formats when several fit: float first (no conversion), then the widest
/// integers.
const FORMAT_PREFERENCE: [SampleFormat; 9] = [
    SampleFormat::F32,
    SampleFormat::I32,
    SampleFormat::I24,
    SampleFormat::I16,
    SampleFormat::F64,
    SampleFormat::U16,
    SampleFormat::I8,
    SampleFormat::U8,
    SampleFormat::U32,
];

/// Requested properties of a device stream; `None` lets [`choose_config`] decide.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamRequest {
    /// Sample rate, Hz (default: 48 kHz if supported, else the device's default rate).
    pub rate_hz: Option<u32>,
    /// Channel count (default: mono if supported, else the device's default).
    pub channels: Option<u16>,
    /// Frames per device buffer (default: the host's choice).
    pub buffer_frames: Option<u32>,
}

/// The configuration and sample format to open `device` with.
pub fn choose_config(
    device: &cpal::Device,
    direction: Direction,
    request: StreamRequest,
) -> Result<(StreamConfig, SampleFormat)> {
    let name = device_name(device);
    let word = direction.word();
    let ranges = ranges_of(device, direction);
    let default = match direction {
        Direction::Input => device.default_input_config(),
        Direction::Output => device.default_output_config(),
    }
    .map_err(|e| {
        audio_err(
            format!("{word} device {name} has no usable configuration"),
            e,
        )
    })?;
    let channels = request.channels.unwrap_or_else(|| {
        if ranges.iter().any(|r| r.channels() == 1) {
            1
        } else {
            default.channels()
        }
    });
    let sr = SAMPLE_RATE_HZ as u32;
    let rate_hz = request.rate_hz.unwrap_or_else(|| {
        if ranges
            .iter()
            .any(|r| r.channels() == channels && r.contains_rate(sr))
        {
            sr
        } else {
            default.sample_rate()
        }
    });
    let fitting: Vec<&SupportedStreamConfigRange> = ranges
        .iter()
        .filter(|r| r.channels() == channels && r.contains_rate(rate_hz))
        .collect();
    let range = FORMAT_PREFERENCE
        .iter()
        .find_map(|f| fitting.iter().find(|r| r.sample_format() == *f))
        .or_else(|| fitting.first())
        .ok_or_else(|| {
            Error::Audio(format!(
                "{word} device {name} cannot open {channels} channel(s) at {rate_hz} Hz \
                 (default: {} channel(s) at {} Hz)",
                default.channels(),
                default.sample_rate()
            ))
        })?;
    let buffer_size = match request.buffer_frames {
        None => BufferSize::Default,
        Some(frames) => {
            if let SupportedBufferSize::Range { min, max } = range.buffer_size() {
                if !(*min..=*max).contains(&frames) {
                    return Err(Error::Audio(format!(
                        "{word} device {name} takes buffers of {min} to {max} frames, not {frames}"
                    )));
                }
            }
            BufferSize::Fixed(frames)
        }
    };
    Ok((
        StreamConfig {
            channels,
            sample_rate: rate_hz,
            buffer_size,
        },
        range.sample_format(),
    ))
}
