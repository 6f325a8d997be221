//! Opening the devices: the cpal stream configurations, the input and output streams with their
//! callbacks, and the buffer arithmetic (block sizes, default prefill) that follows from them.
use std::sync::atomic::Ordering;
use std::sync::Arc;

use cpal::traits::DeviceTrait;
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig};

use super::callbacks::{InputSide, OutputSide};
use super::devices::name_of;
use super::meters::LiveMeters;
use super::pipeline::Health;
use super::summary::StreamInfo;
use crate::config::{HOP_SIZE, SAMPLE_RATE_HZ};
use crate::{Error, Result};
/// Frames per callback of a stream opened with `size` (one 10 ms hop when the host chooses).
pub(super) fn block_frames(size: cpal::BufferSize, rate_hz: u32) -> usize {
    match size {
        cpal::BufferSize::Fixed(n) => n as usize,
        cpal::BufferSize::Default => hop_at(rate_hz),
    }
}

/// The default output prefill, in output samples: one output buffer, plus what one input block (or one
/// hop, if longer) adds to the queue. Hosts often run both callbacks off one timer, so the output
/// callback can come just after an input block, before the worker has denoised it; the queue must then
/// still hold a whole output buffer without that block. Less than this underruns whenever the worker
/// loses that race (seen on PulseAudio null sinks at 960-frame buffers with one buffer + one hop).
pub(super) fn default_prefill(
    in_block: usize,
    rate_in_hz: u32,
    out_block: usize,
    rate_out_hz: u32,
) -> usize {
    let in_block_at_out =
        (in_block as u64 * u64::from(rate_out_hz)).div_ceil(u64::from(rate_in_hz));
    out_block + (in_block_at_out as usize).max(hop_at(rate_out_hz))
}

/// Samples of one 10 ms hop at `rate_hz`.
pub(super) fn hop_at(rate_hz: u32) -> usize {
    (HOP_SIZE as u64 * u64::from(rate_hz)).div_ceil(SAMPLE_RATE_HZ as u64) as usize
}

pub(super) fn stream_info(
    device: &cpal::Device,
    cfg: &StreamConfig,
    format: SampleFormat,
) -> StreamInfo {
    StreamInfo {
        device: name_of(device),
        rate_hz: cfg.sample_rate,
        channels: cfg.channels,
        format,
        buffer_frames: (
            match cfg.buffer_size {
                cpal::BufferSize::Fixed(n) => Some(n),
                cpal::BufferSize::Default => None,
            },
            None,
        ),
    }
}

pub(super) fn error_callback(
    side: &'static str,
    meters: Arc<LiveMeters>,
    health: Arc<Health>,
) -> impl FnMut(cpal::Error) + Send + 'static {
    move |err: cpal::Error| {
        if err.kind() == cpal::ErrorKind::Xrun {
            meters.host_xruns.fetch_add(1, Ordering::Relaxed);
        } else if !meters.running.load(Ordering::Relaxed) {
            // The run is already ending (duration reached, stop, or an earlier failure): a stream that
            // reports its device gone while the streams are being closed is the teardown, not a failure.
            // PulseAudio did this at the end of a `--duration` run ("No such entity").
        } else {
            health.fail(Error::Audio(format!("{side} device failed: {err}")));
            meters.running.store(false, Ordering::Relaxed);
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn open_streams(
    in_dev: &cpal::Device,
    in_cfg: StreamConfig,
    in_fmt: SampleFormat,
    input_side: InputSide,
    out_dev: &cpal::Device,
    out_cfg: StreamConfig,
    out_fmt: SampleFormat,
    output_side: OutputSide,
    meters: &Arc<LiveMeters>,
    health: &Arc<Health>,
) -> Result<Vec<cpal::Stream>> {
    let in_err = error_callback("input", Arc::clone(meters), Arc::clone(health));
    let out_err = error_callback("output", Arc::clone(meters), Arc::clone(health));
    let input = match in_fmt {
        SampleFormat::F32 => input_stream::<f32>(in_dev, in_cfg, input_side, in_err),
        SampleFormat::F64 => input_stream::<f64>(in_dev, in_cfg, input_side, in_err),
        SampleFormat::I32 => input_stream::<i32>(in_dev, in_cfg, input_side, in_err),
        SampleFormat::I24 => input_stream::<cpal::I24>(in_dev, in_cfg, input_side, in_err),
        SampleFormat::I16 => input_stream::<i16>(in_dev, in_cfg, input_side, in_err),
        SampleFormat::I8 => input_stream::<i8>(in_dev, in_cfg, input_side, in_err),
        SampleFormat::U32 => input_stream::<u32>(in_dev, in_cfg, input_side, in_err),
        SampleFormat::U16 => input_stream::<u16>(in_dev, in_cfg, input_side, in_err),
        SampleFormat::U8 => input_stream::<u8>(in_dev, in_cfg, input_side, in_err),
        other => Err(Error::Audio(format!(
            "unsupported input sample format {other}"
        ))),
    }?;
    let output = match out_fmt {
        SampleFormat::F32 => output_stream::<f32>(out_dev, out_cfg, output_side, out_err),
        SampleFormat::F64 => output_stream::<f64>(out_dev, out_cfg, output_side, out_err),
        SampleFormat::I32 => output_stream::<i32>(out_dev, out_cfg, output_side, out_err),
        SampleFormat::I24 => output_stream::<cpal::I24>(out_dev, out_cfg, output_side, out_err),
        SampleFormat::I16 => output_stream::<i16>(out_dev, out_cfg, output_side, out_err),
        SampleFormat::I8 => output_stream::<i8>(out_dev, out_cfg, output_side, out_err),
        SampleFormat::U32 => output_stream::<u32>(out_dev, out_cfg, output_side, out_err),
        SampleFormat::U16 => output_stream::<u16>(out_dev, out_cfg, output_side, out_err),
        SampleFormat::U8 => output_stream::<u8>(out_dev, out_cfg, output_side, out_err),
        other => Err(Error::Audio(format!(
            "unsupported output sample format {other}"
        ))),
    }?;
    Ok(vec![input, output])
}

pub(super) fn input_stream<T>(
    device: &cpal::Device,
    cfg: StreamConfig,
    mut side: InputSide,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    device
        .build_input_stream::<T, _, _>(
            cfg,
            move |data: &[T], info: &cpal::InputCallbackInfo| {
                let ts = info.timestamp();
                side.process(data, ts.callback.duration_since(ts.capture));
            },
            on_error,
            None,
        )
        .map_err(|e| {
            Error::Audio(format!(
                "cannot open input device {} ({} ch, {} Hz): {e}",
                name_of(device),
                cfg.channels,
                cfg.sample_rate
            ))
        })
}

pub(super) fn output_stream<T>(
    device: &cpal::Device,
    cfg: StreamConfig,
    mut side: OutputSide,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream>
where
    T: SizedSample + FromSample<f32>,
{
    device
        .build_output_stream::<T, _, _>(
            cfg,
            move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
                let ts = info.timestamp();
                side.process(data, ts.playback.duration_since(ts.callback));
            },
            on_error,
            None,
        )
        .map_err(|e| {
            Error::Audio(format!(
                "cannot open output device {} ({} ch, {} Hz): {e}",
                name_of(device),
                cfg.channels,
                cfg.sample_rate
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_errors_fail_a_running_run_but_not_one_that_is_ending() {
        let failing = |running: bool, kind: cpal::ErrorKind| {
            let meters = Arc::new(LiveMeters::new(&["native"], None));
            meters.running.store(running, Ordering::Relaxed);
            let health = Arc::new(Health::default());
            error_callback("output", Arc::clone(&meters), Arc::clone(&health))(cpal::Error::new(
                kind,
            ));
            (
                health.has_failed(),
                meters.running.load(Ordering::Relaxed),
                meters.host_xruns.load(Ordering::Relaxed),
            )
        };
        // While running: a lost device ends the run with a failure; an xrun is only counted.
        assert_eq!(
            failing(true, cpal::ErrorKind::DeviceNotAvailable),
            (true, false, 0)
        );
        assert_eq!(failing(true, cpal::ErrorKind::Xrun), (false, true, 1));
        // Once the run is ending, the streams' closing errors are not failures; xruns still count.
        assert_eq!(
            failing(false, cpal::ErrorKind::DeviceNotAvailable),
            (false, false, 0)
        );
        assert_eq!(failing(false, cpal::ErrorKind::Xrun), (false, false, 1));
    }

    #[test]
    fn default_prefill_holds_an_output_buffer_beyond_one_input_block() {
        // 10 ms buffers: the input block is one hop.
        assert_eq!(default_prefill(480, 48_000, 480, 48_000), 960);
        // Short buffers: a hop is what the worker adds at once.
        assert_eq!(default_prefill(240, 48_000, 240, 48_000), 720);
        // Long input blocks: a whole block arrives (and may still be in the worker) at once.
        assert_eq!(default_prefill(960, 48_000, 960, 48_000), 1920);
        // Other rates: the input block in output samples, rounded up.
        assert_eq!(default_prefill(441, 44_100, 441, 44_100), 882);
        assert_eq!(default_prefill(441, 44_100, 480, 48_000), 960);
    }
}
