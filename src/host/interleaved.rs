//! Several channels of a host's interleaved buffers (a GStreamer element's, a C program's): one
//! [`HostChannel`] per channel, the same controls on all, de-interleaved through a fixed scratch buffer,
//! so that [`HostStream::process_interleaved`] never allocates either.
use std::sync::Arc;

use super::HostChannel;
use crate::backend::AnyBackend;
use crate::denoiser::DenoiserHealth;
use crate::Result;

/// Frames de-interleaved at a time (any block size is processed in pieces of at most this).
const SCRATCH_FRAMES: usize = 1024;

/// A buffer whose length is not a whole number of frames (nothing was processed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialFrame {
    /// The buffer's length in samples.
    pub samples: usize,
    /// Channels per frame.
    pub channels: usize,
}

impl std::fmt::Display for PartialFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} samples are not a whole number of {}-channel frames",
            self.samples, self.channels
        )
    }
}

impl std::error::Error for PartialFrame {}

/// An interleaved multi-channel host stream at the host's rate (see the module).
#[derive(Debug)]
pub struct HostStream {
    channels: Vec<HostChannel>,
    scratch: Vec<f32>,
}

impl HostStream {
    /// `channels` channels at `rate_hz` (both checked against the library's range first), denoised with
    /// `backend`; attenuation unlimited, post-filter and bypass off.
    pub fn new(backend: Arc<AnyBackend>, rate_hz: u32, channels: usize) -> Result<Self> {
        crate::config::check_format(rate_hz, channels)?;
        let channels = (0..channels)
            .map(|_| HostChannel::new(Arc::clone(&backend), rate_hz))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            channels,
            scratch: vec![0.0; SCRATCH_FRAMES],
        })
    }

    /// Channels per frame.
    pub fn channels(&self) -> usize {
        self.channels.len()
    }

    /// The host rate in Hz.
    pub fn rate_hz(&self) -> u32 {
        self.channels[0].rate_hz()
    }

    /// Delay of the output behind the input, in frames (the same on every channel).
    pub fn latency_samples(&self) -> usize {
        self.channels[0].latency_samples()
    }

    /// Processes interleaved frames in place (any number of them); a buffer that is not a whole number
    /// of frames is refused untouched. Never allocates, locks or blocks.
    pub fn process_interleaved(&mut self, io: &mut [f32]) -> std::result::Result<(), PartialFrame> {
        let nb = self.channels.len();
        if !io.len().is_multiple_of(nb) {
            return Err(PartialFrame {
                samples: io.len(),
                channels: nb,
            });
        }
        for block in io.chunks_mut(SCRATCH_FRAMES * nb) {
            let frames = block.len() / nb;
            let scratch = &mut self.scratch[..frames];
            for (c, channel) in self.channels.iter_mut().enumerate() {
                for (s, frame) in scratch.iter_mut().zip(block.chunks_exact(nb)) {
                    *s = frame[c];
                }
                channel.process(scratch);
                for (s, frame) in scratch.iter().zip(block.chunks_exact_mut(nb)) {
                    frame[c] = *s;
                }
            }
        }
        Ok(())
    }

    /// Back to the fresh state (a flush or a new stream), keeping the controls.
    pub fn reset(&mut self) {
        self.channels.iter_mut().for_each(HostChannel::reset);
    }

    /// The attenuation limit's control value on every channel (see [`HostChannel::set_controls`]).
    pub fn set_atten_control_db(&mut self, atten_control_db: f32) {
        for c in &mut self.channels {
            c.set_atten_control_db(atten_control_db);
        }
    }

    /// The attenuation limit's control value last set.
    pub fn atten_control_db(&self) -> f32 {
        self.channels[0].atten_control_db()
    }

    /// Bypass on every channel, crossfaded over one hop.
    pub fn set_bypass(&mut self, bypass: bool) {
        for c in &mut self.channels {
            c.set_bypass(bypass);
        }
    }

    /// Whether bypass is on.
    pub fn bypass(&self) -> bool {
        self.channels[0].bypass()
    }

    /// The post-filter on every channel.
    pub fn set_post_filter(&mut self, on: bool) {
        for c in &mut self.channels {
            c.set_post_filter(on);
        }
    }

    /// Whether the post-filter is on.
    pub fn post_filter(&self) -> bool {
        self.channels[0].post_filter()
    }

    /// Repairs summed over the channels (see [`HostChannel::health`]).
    pub fn health(&self) -> DenoiserHealth {
        self.channels.iter().map(HostChannel::health).fold(
            DenoiserHealth::default(),
            |mut sum, h| {
                sum.input.non_finite += h.input.non_finite;
                sum.input.clamped += h.input.clamped;
                sum.resets += h.resets;
                sum
            },
        )
    }

    /// Hops that failed inside the denoiser, summed over the channels.
    pub fn errors(&self) -> u64 {
        self.channels.iter().map(HostChannel::errors).sum()
    }
}
