//! The shared host glue: one audio channel of a host (a plugin, a GStreamer element, a C API, a Python
//! stream) at the host's rate, in blocks of any size (1…8192 and beyond) in, the denoised stream out,
//! delayed by exactly [`HostChannel::latency_samples`]. Every front end that streams a host's buffers
//! uses this one type; none keeps its own copy of the buffering.
//!
//! Path per channel: host samples → FIFO of one resampler block → [`BlockResampler`] to 48 kHz → hop FIFO
//! → [`Denoiser::process_frame`] → FIFO → [`BlockResampler`] back to the host rate → output FIFO, which
//! starts with a fixed prefill of zeros so it never runs dry whatever the host's block size. At 48 kHz
//! both resamplers are the identity. A dry delay line of the same total delay feeds bypass, and a ramp of
//! one hop (10 ms) crossfades wet and dry, so switching bypass neither clicks nor jumps in time.
//! Everything is allocated in [`HostChannel::new`]; [`HostChannel::process`] never allocates, locks or
//! blocks (tests/host_glue.rs proves it with a counting allocator).
//! Host samples that are not audio (NaN, ±Inf, beyond ±1000) are repaired on arrival by the library's
//! [`InputGuard`], before the resampler, the dry line or the model see them, and counted
//! ([`HostChannel::health`]); a non-finite hop out of the model resets the denoiser (the library does it).
use std::sync::Arc;

use crate::backend::AnyBackend;
use crate::config::{HOP_SIZE, SAMPLE_RATE_HZ};
use crate::denoiser::{DenoiseParams, Denoiser, DenoiserHealth};
use crate::dsp::deep_filter::atten_lim_from_control;
use crate::dsp::resample::BlockResampler;
use crate::dsp::sanitize::InputGuard;
use crate::{Error, Result};

mod denormals;
mod interleaved;
pub use denormals::DenormalGuard;
pub use interleaved::{HostStream, PartialFrame};

/// The largest number of resampler blocks the buffering analysis walks through (one period of the block
/// pattern; rates in common use need one to a few hundred).
const MAX_PERIOD_BLOCKS: usize = 1 << 20;

/// The denoising parameters of `dfn4 enhance` with no options (the defaults that suit the shipped model:
/// no post-filter, LSNR gates at the LSNR range's ends, i.e. off), with the given control value of the
/// attenuation limit (dB; 100 or more = unlimited).
pub fn params_for_control(atten_control_db: f32) -> DenoiseParams {
    DenoiseParams {
        atten_lim_db: atten_lim_from_control(sanitize_db(atten_control_db)),
        ..DenoiseParams::shipped()
    }
}

/// A control value the library accepts: NaN (a host's unset port) means unlimited, negatives mean 0.
fn sanitize_db(db: f32) -> f32 {
    if db.is_nan() {
        f32::INFINITY
    } else {
        db.max(0.0)
    }
}

/// A fixed-capacity ring of samples (no allocation after construction).
#[derive(Debug)]
struct Ring {
    buf: Vec<f32>,
    read: usize,
    len: usize,
}

impl Ring {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: vec![0.0; capacity.max(1)],
            read: 0,
            len: 0,
        }
    }

    fn clear(&mut self) {
        self.read = 0;
        self.len = 0;
    }

    // `push`, `push_zeros` and `take` never panic, even if the buffering analysis were wrong (they run in
    // the host's `run`, where a panic aborts the host): samples beyond the capacity are dropped, and a
    // `take` beyond what is held is completed with zeros.

    fn push(&mut self, samples: &[f32]) {
        let cap = self.buf.len();
        let samples = &samples[..samples.len().min(cap - self.len)];
        let write = (self.read + self.len) % cap;
        let first = samples.len().min(cap - write);
        self.buf[write..write + first].copy_from_slice(&samples[..first]);
        self.buf[..samples.len() - first].copy_from_slice(&samples[first..]);
        self.len += samples.len();
    }

    fn push_zeros(&mut self, n: usize) {
        let cap = self.buf.len();
        let n = n.min(cap - self.len);
        for i in 0..n {
            self.buf[(self.read + self.len + i) % cap] = 0.0;
        }
        self.len += n;
    }

    fn take(&mut self, out: &mut [f32]) {
        let (out, missing) = out.split_at_mut(out.len().min(self.len));
        missing.fill(0.0);
        let cap = self.buf.len();
        let first = out.len().min(cap - self.read);
        out[..first].copy_from_slice(&self.buf[self.read..self.read + first]);
        let rest = out.len() - first;
        out[first..].copy_from_slice(&self.buf[..rest]);
        self.read = (self.read + out.len()) % cap;
        self.len -= out.len();
    }

    /// Pops one sample (0 if empty, which the prefill rules out).
    fn pop(&mut self) -> f32 {
        if self.len == 0 {
            return 0.0;
        }
        let x = self.buf[self.read];
        self.read = (self.read + 1) % self.buf.len();
        self.len -= 1;
        x
    }
}

/// Fixed buffering of the chain, from one period of its block pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Buffering {
    /// Zeros the output FIFO starts with: the least that never lets it run dry, for any block sizes.
    prefill: usize,
    /// The most the output FIFO, the 48 kHz input FIFO and the 48 kHz output FIFO ever hold.
    out_cap: usize,
    in48_cap: usize,
    out48_cap: usize,
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `None` when it does not fit (or a block is empty): the caller refuses the rate instead of panicking.
fn lcm(a: usize, b: usize) -> Option<usize> {
    if a == 0 || b == 0 {
        return None;
    }
    (a / gcd(a, b)).checked_mul(b)
}

/// Walks one period of the chain (resampler in: `in_block` → `in_block_48k`; hops of [`HOP_SIZE`];
/// resampler out: `out_block_48k` → `out_block`). Samples are consumed one at a time in the worst case,
/// and a block is processed as soon as it is complete, so after `t` samples in the output has had
/// `produced(t)` samples; the prefill is the largest `t − produced(t)`.
fn buffering(
    in_block: usize,
    in_block_48k: usize,
    out_block_48k: usize,
    out_block: usize,
) -> Result<Buffering> {
    // Checked and saturating arithmetic throughout: this runs inside a host's `instantiate`, where a
    // panic (an overflow in a debug build) would abort the host.
    let refuse = || {
        Error::InvalidInput(format!(
            "resampler blocks {in_block} → {in_block_48k} and {out_block_48k} → {out_block} repeat too rarely"
        ))
    };
    let period_48k = lcm(HOP_SIZE, out_block_48k)
        .and_then(|l| lcm(in_block_48k, l))
        .ok_or_else(refuse)?;
    let blocks = period_48k / in_block_48k;
    if blocks > MAX_PERIOD_BLOCKS || in_block == 0 || out_block == 0 {
        return Err(refuse());
    }
    let walk = |prefill: usize| {
        let (mut in48, mut out48, mut produced) = (0usize, 0usize, 0usize);
        let mut caps = Buffering {
            prefill,
            out_cap: prefill,
            in48_cap: 0,
            out48_cap: 0,
        };
        let mut need = 0usize;
        for k in 1..=blocks {
            // Just before block k completes: k·in_block − 1 samples in, produced from k − 1 blocks.
            let consumed = k.saturating_mul(in_block);
            need = need.max(consumed.saturating_sub(1).saturating_sub(produced));
            in48 = in48.saturating_add(in_block_48k);
            caps.in48_cap = caps.in48_cap.max(in48);
            while in48 >= HOP_SIZE {
                in48 -= HOP_SIZE;
                out48 = out48.saturating_add(HOP_SIZE);
                caps.out48_cap = caps.out48_cap.max(out48);
            }
            while out48 >= out_block_48k {
                out48 -= out_block_48k;
                produced = produced.saturating_add(out_block);
                // Right after the block, before any sample of the chunk that completed it goes out.
                let level = prefill
                    .saturating_add(produced)
                    .saturating_sub((k - 1).saturating_mul(in_block));
                caps.out_cap = caps.out_cap.max(level);
            }
        }
        (need, caps)
    };
    let (prefill, _) = walk(0);
    Ok(walk(prefill).1)
}

/// One channel of a host stream (see the module).
pub struct HostChannel {
    denoiser: Denoiser<AnyBackend>,
    rs_in: BlockResampler,
    rs_out: BlockResampler,
    /// Host-rate input, one resampler block.
    host_in: Vec<f32>,
    host_in_len: usize,
    at_48k_in: Vec<f32>,
    in48: Ring,
    hop_in: [f32; HOP_SIZE],
    hop_out: [f32; HOP_SIZE],
    out48: Ring,
    at_48k_out: Vec<f32>,
    host_out_block: Vec<f32>,
    host_out: Ring,
    /// The input delayed by the whole latency (what bypass plays).
    dry: Vec<f32>,
    dry_pos: usize,
    buffering: Buffering,
    rate_hz: u32,
    latency_samples: usize,
    /// Wet share of the output in steps of the ramp (`ramp_samples` = denoised, 0 = bypassed).
    wet_steps: usize,
    ramp_samples: usize,
    bypass: bool,
    atten_control_db: f32,
    post_filter: bool,
    errors: u64,
    guard: InputGuard,
}

impl std::fmt::Debug for HostChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostChannel")
            .field("rs_in", &self.rs_in)
            .field("rs_out", &self.rs_out)
            .field("buffering", &self.buffering)
            .field("latency_samples", &self.latency_samples)
            .finish_non_exhaustive()
    }
}

impl HostChannel {
    /// A channel at the host rate `rate_hz`, denoising with `backend` (attenuation unlimited, bypass off).
    pub fn new(backend: Arc<AnyBackend>, rate_hz: u32) -> Result<Self> {
        crate::config::check_sample_rate(rate_hz)?;
        let sr = SAMPLE_RATE_HZ as u32;
        let rs_in = BlockResampler::new(rate_hz, sr)?;
        // The exact inverse of the way in: the block patterns of both sides repeat together.
        let rs_out = BlockResampler::inverse_of(&rs_in, sr, rate_hz)?;
        let atten_control_db = 100.0;
        let denoiser = Denoiser::new(backend, params_for_control(atten_control_db))?;
        let buffering = buffering(
            rs_in.block_in(),
            rs_in.block_out(),
            rs_out.block_in(),
            rs_out.block_out(),
        )?;
        // Input side in 48 kHz samples (resampler + denoiser), then the output side in host samples, at
        // the ratio the resamplers use (exact, or within 100 ppm for rates like 44,101 Hz).
        let delay_48k = (rs_in.delay_out_samples() + denoiser.latency_samples()) as f64;
        let (ratio_host, ratio_48k) = rs_in.ratio();
        let delay_host = delay_48k * ratio_host as f64 / ratio_48k as f64;
        let latency_samples =
            delay_host.round() as usize + rs_out.delay_out_samples() + buffering.prefill;
        // A hop's worth of host samples.
        let ramp_samples = (rate_hz as usize * HOP_SIZE)
            .div_ceil(SAMPLE_RATE_HZ)
            .max(1);
        let mut channel = Self {
            host_in: vec![0.0; rs_in.block_in()],
            host_in_len: 0,
            at_48k_in: vec![0.0; rs_in.block_out()],
            in48: Ring::with_capacity(buffering.in48_cap),
            hop_in: [0.0; HOP_SIZE],
            hop_out: [0.0; HOP_SIZE],
            out48: Ring::with_capacity(buffering.out48_cap),
            at_48k_out: vec![0.0; rs_out.block_in()],
            host_out_block: vec![0.0; rs_out.block_out()],
            host_out: Ring::with_capacity(buffering.out_cap),
            dry: vec![0.0; latency_samples.max(1)],
            dry_pos: 0,
            buffering,
            rate_hz,
            latency_samples,
            wet_steps: ramp_samples,
            ramp_samples,
            bypass: false,
            atten_control_db,
            post_filter: false,
            errors: 0,
            guard: InputGuard::new(),
            denoiser,
            rs_in,
            rs_out,
        };
        channel.reset();
        Ok(channel)
    }

    /// Delay of the output behind the input, in host samples (at 48 kHz exact; at other rates the
    /// resamplers' delay is rounded to the nearest sample).
    pub fn latency_samples(&self) -> usize {
        self.latency_samples
    }

    /// Hops that failed inside the denoiser (output silence for that hop); 0 in normal operation.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// What was repaired since construction: host samples that were not audio (NaN/Inf → 0, beyond
    /// ±1000 clamped) and denoiser resets after a non-finite output hop. For the host glue to read
    /// between blocks; never cleared.
    pub fn health(&self) -> DenoiserHealth {
        DenoiserHealth {
            input: self.guard.counts(),
            resets: self.denoiser.health().resets,
        }
    }

    /// Back to the fresh state (a new stream), keeping every buffer and the controls.
    pub fn reset(&mut self) {
        self.denoiser.reset();
        self.host_in_len = 0;
        self.in48.clear();
        self.out48.clear();
        self.host_out.clear();
        self.host_out.push_zeros(self.buffering.prefill);
        self.dry.fill(0.0);
        self.dry_pos = 0;
        self.wet_steps = if self.bypass { 0 } else { self.ramp_samples };
    }

    /// Sets the controls: the attenuation limit (dB, as `dfn4 enhance --atten-lim-db`: 0 = none,
    /// 100 or more = unlimited, NaN = unlimited, negative = 0), applied from the next hop on (the STFT's
    /// overlap-add smooths the change over a hop), and bypass, crossfaded over one hop. Cheap when
    /// nothing changed; real-time safe.
    pub fn set_controls(&mut self, atten_control_db: f32, bypass: bool) {
        self.set_bypass(bypass);
        self.set_atten_control_db(atten_control_db);
    }

    /// Bypass on (the input, delayed by the same latency) or off (denoised), crossfaded over one hop.
    pub fn set_bypass(&mut self, bypass: bool) {
        self.bypass = bypass;
    }

    /// Whether bypass is on (the ramp towards it may still be running).
    pub fn bypass(&self) -> bool {
        self.bypass
    }

    /// The attenuation limit as a control value (see [`HostChannel::set_controls`]).
    pub fn set_atten_control_db(&mut self, atten_control_db: f32) {
        if atten_control_db.to_bits() != self.atten_control_db.to_bits() {
            self.atten_control_db = atten_control_db;
            self.apply_params();
        }
    }

    /// libDF's post-filter on or off (as `dfn4 enhance --post-filter`; off by default), from the next
    /// hop on. Real-time safe.
    pub fn set_post_filter(&mut self, on: bool) {
        if on != self.post_filter {
            self.post_filter = on;
            self.apply_params();
        }
    }

    /// Whether the post-filter is on.
    pub fn post_filter(&self) -> bool {
        self.post_filter
    }

    fn apply_params(&mut self) {
        let params = DenoiseParams {
            post_filter: self.post_filter,
            ..params_for_control(self.atten_control_db)
        };
        if self.denoiser.set_params(params).is_err() {
            self.errors += 1;
        }
    }

    /// The attenuation limit's control value last set (100 = unlimited, the default).
    pub fn atten_control_db(&self) -> f32 {
        self.atten_control_db
    }

    /// The host rate in Hz.
    pub fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// Processes `io` in place: the input samples are replaced by the output samples. Any length.
    pub fn process(&mut self, io: &mut [f32]) {
        let mut done = 0;
        while done < io.len() {
            let room = self.host_in.len() - self.host_in_len;
            let n = room.min(io.len() - done);
            let chunk = &mut io[done..done + n];
            self.guard.sanitize(chunk);
            self.host_in[self.host_in_len..self.host_in_len + n].copy_from_slice(chunk);
            self.host_in_len += n;
            if self.host_in_len == self.host_in.len() {
                self.host_in_len = 0;
                self.process_block();
            }
            let target = if self.bypass { 0 } else { self.ramp_samples };
            for x in chunk.iter_mut() {
                let dry = std::mem::replace(&mut self.dry[self.dry_pos], *x);
                self.dry_pos += 1;
                if self.dry_pos == self.dry.len() {
                    self.dry_pos = 0;
                }
                let wet = self.host_out.pop();
                if self.wet_steps < target {
                    self.wet_steps += 1;
                } else if self.wet_steps > target {
                    self.wet_steps -= 1;
                }
                *x = if self.wet_steps == self.ramp_samples {
                    wet
                } else if self.wet_steps == 0 {
                    dry
                } else {
                    let g = self.wet_steps as f32 / self.ramp_samples as f32;
                    dry + g * (wet - dry)
                };
            }
            done += n;
        }
    }

    /// One complete input block: to 48 kHz, every complete hop through the denoiser, back to the host rate.
    fn process_block(&mut self) {
        if self
            .rs_in
            .process(&self.host_in, &mut self.at_48k_in)
            .is_err()
        {
            self.errors += 1;
            self.at_48k_in.fill(0.0);
        }
        self.in48.push(&self.at_48k_in);
        while self.in48.len >= HOP_SIZE {
            self.in48.take(&mut self.hop_in);
            if self
                .denoiser
                .process_frame(&self.hop_in, &mut self.hop_out)
                .is_err()
            {
                self.errors += 1;
                self.hop_out.fill(0.0);
            }
            self.out48.push(&self.hop_out);
        }
        while self.out48.len >= self.at_48k_out.len() {
            self.out48.take(&mut self.at_48k_out);
            if self
                .rs_out
                .process(&self.at_48k_out, &mut self.host_out_block)
                .is_err()
            {
                self.errors += 1;
                self.host_out_block.fill(0.0);
            }
            self.host_out.push(&self.host_out_block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_wraps() {
        let mut r = Ring::with_capacity(5);
        r.push(&[1.0, 2.0, 3.0]);
        let mut out = [0.0; 2];
        r.take(&mut out);
        assert_eq!(out, [1.0, 2.0]);
        r.push(&[4.0, 5.0, 6.0, 7.0]);
        let mut out = [0.0; 5];
        r.take(&mut out);
        assert_eq!(out, [3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(r.pop(), 0.0);
    }

    #[test]
    fn buffering_at_48k_is_one_hop_less_one() {
        let b = buffering(480, 480, 480, 480).unwrap();
        assert_eq!(b.prefill, HOP_SIZE - 1);
        assert_eq!(b.out_cap, b.prefill + HOP_SIZE);
        let b = buffering(441, 480, 480, 441).unwrap();
        assert_eq!(b.prefill, 440);
    }

    #[test]
    fn ring_and_buffering_never_panic() {
        // Beyond the capacity: dropped; beyond what is held: zeros (a panic would abort the host).
        let mut r = Ring::with_capacity(3);
        r.push(&[1.0, 2.0, 3.0, 4.0]);
        r.push_zeros(5);
        let mut out = [9.0; 5];
        r.take(&mut out);
        assert_eq!(out, [1.0, 2.0, 3.0, 0.0, 0.0]);
        assert!(buffering(0, 480, 480, 480).is_err());
        assert!(buffering(480, 0, 480, 480).is_err());
        // Absurd block sizes: an answer (saturated) or an error, never an overflow panic.
        let _ = buffering(usize::MAX, 479, 481, usize::MAX);
        let _ = buffering(usize::MAX / 2, 1, 1, usize::MAX / 2);
    }

    #[test]
    fn params_follow_the_control() {
        assert_eq!(params_for_control(100.0).atten_lim_db, None);
        assert_eq!(params_for_control(f32::NAN).atten_lim_db, None);
        assert_eq!(params_for_control(12.0).atten_lim_db, Some(12.0));
        assert_eq!(params_for_control(-3.0).atten_lim_db, Some(0.0));
    }
}
