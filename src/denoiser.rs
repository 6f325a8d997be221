//! [`Denoiser`]: one mono 48 kHz stream, one 10 ms hop at a time. It owns the DSP state (STFT memories,
//! feature normalisation, the ring of noisy spectra) and the backend's recurrent state; every buffer is
//! allocated in [`Denoiser::new`], so [`Denoiser::process_frame`] never allocates.
//!
//! Per hop: analysis → features → `Backend::step` → [`deep_filter::enhance_frame`] on frame
//! `t − lookahead` → synthesis. The output lags the input by [`Denoiser::latency_samples`].
//!
//! Hostile input never breaks the stream: each hop is repaired first ([`crate::dsp::sanitize`]: NaN/Inf
//! → 0, beyond ±1000 clamped), so the model only sees audio; and if a hop's output is ever non-finite
//! anyway, that hop is silenced and the denoiser resets itself, so the next hop is finite again. Both
//! are counted ([`Denoiser::health`]) for the host to read.
use std::sync::Arc;

use crate::backend::{Backend, Features, ModelOutput};
use crate::config::{FFT_SIZE, HOP_SIZE, NB_FREQS};
use crate::dsp::deep_filter::{self, SpecRing};
use crate::dsp::features::FeatureState;
use crate::dsp::sanitize::{InputGuard, SanitizeCounts};
use crate::dsp::stft::{Analysis, Synthesis};
use crate::dsp::Complex32;
use crate::stage::Stage;
use crate::Result;

pub use crate::dsp::deep_filter::{DenoiseParams, ATTEN_LIM_UNLIMITED_DB};

/// What a [`Denoiser`] repaired since it was built (never cleared by [`Denoiser::reset`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DenoiserHealth {
    /// Input samples that were not audio (NaN/Inf → 0, beyond
    /// ±[`crate::dsp::sanitize::MAX_SAMPLE_AMPLITUDE`] → clamped).
    pub input: SanitizeCounts,
    /// Hops whose output was non-finite: silenced, and the state reset.
    pub resets: u64,
}

/// A streaming denoiser over a shared backend `B`.
pub struct Denoiser<B: Backend> {
    backend: Arc<B>,
    state: B::State,
    params: DenoiseParams,
    df_order: usize,
    lookahead: usize,
    analysis: Analysis,
    features: FeatureState,
    ring: SpecRing,
    synthesis: Synthesis,
    spec: Vec<Complex32>,
    enhanced: Vec<Complex32>,
    feats: Features,
    out: ModelOutput,
    /// The hop as the model sees it (the input, repaired).
    hop_in: [f32; HOP_SIZE],
    guard: InputGuard,
    resets: u64,
}

impl<B: Backend> Denoiser<B> {
    /// A denoiser with fresh state. Fails if the backend's model does not fit the signal path or its
    /// state cannot be created.
    pub fn new(backend: Arc<B>, params: DenoiseParams) -> Result<Self> {
        let cfg = backend.config().clone();
        // Also checks that the model's ERB bands and DF bins match the signal path.
        cfg.validate()?;
        params.validate()?;
        let state = backend.new_state(1)?;
        // The ring must reach back to the oldest DF tap and to the delayed frame.
        let ring_len = cfg.df_order.max(cfg.df_lookahead + 1);
        Ok(Self {
            state,
            params,
            df_order: cfg.df_order,
            lookahead: cfg.df_lookahead,
            analysis: Analysis::new(),
            features: FeatureState::new(),
            ring: SpecRing::new(ring_len),
            synthesis: Synthesis::new(),
            spec: vec![Complex32::default(); NB_FREQS],
            enhanced: vec![Complex32::default(); NB_FREQS],
            feats: Features::zeros(&cfg, 1),
            out: ModelOutput::zeros(&cfg, 1),
            hop_in: [0.0; HOP_SIZE],
            guard: InputGuard::new(),
            resets: 0,
            backend,
        })
    }

    /// Enhances one hop. Returns the model's LSNR estimate (dB) for this hop. Never allocates (given a
    /// backend whose `step` does not). Input that is not audio is repaired and counted, and a
    /// non-finite output hop is replaced by silence and resets the state (see the module header), so
    /// `output` is always finite.
    pub fn process_frame(
        &mut self,
        input: &[f32; HOP_SIZE],
        output: &mut [f32; HOP_SIZE],
    ) -> Result<f32> {
        self.process_frame_inner(input, output, None)
    }

    /// [`Denoiser::process_frame`], calling `probe` at the end of each [`Stage`] of the hop (the DSP
    /// stages here, the model's from [`Backend::step_probed`]): what `dfn4 bench --profile` times.
    pub fn process_frame_probed(
        &mut self,
        input: &[f32; HOP_SIZE],
        output: &mut [f32; HOP_SIZE],
        probe: &mut dyn FnMut(Stage),
    ) -> Result<f32> {
        self.process_frame_inner(input, output, Some(probe))
    }

    fn process_frame_inner(
        &mut self,
        input: &[f32; HOP_SIZE],
        output: &mut [f32; HOP_SIZE],
        mut probe: Option<&mut dyn FnMut(Stage)>,
    ) -> Result<f32> {
        self.hop_in.copy_from_slice(input);
        self.guard.sanitize(&mut self.hop_in);
        self.analysis.process(&self.hop_in, &mut self.spec);
        self.ring.push(&self.spec);
        self.features
            .compute(&self.spec, &mut self.feats.erb, &mut self.feats.spec);
        mark(&mut probe, Stage::Analysis);
        match probe.as_mut() {
            None => self
                .backend
                .step(&self.feats, &mut self.state, &mut self.out)?,
            Some(p) => self
                .backend
                .step_probed(&self.feats, &mut self.state, &mut self.out, *p)?,
        }
        let lsnr_db = self.out.lsnr_db[0];
        deep_filter::enhance_frame(
            &self.ring,
            &self.out.gains,
            &self.out.coefs,
            lsnr_db,
            self.df_order,
            self.lookahead,
            self.features.erb_widths(),
            &self.params,
            &mut self.enhanced,
        );
        mark(&mut probe, Stage::DeepFilter);
        self.synthesis.process(&mut self.enhanced, output);
        mark(&mut probe, Stage::Synthesis);
        if !output.iter().all(|x| x.is_finite()) {
            output.fill(0.0);
            self.reset();
            self.resets += 1;
        }
        Ok(lsnr_db)
    }

    /// What was repaired since construction: input samples that were not audio, and resets after a
    /// non-finite output hop. Cheap; a host can poll it between hops.
    pub fn health(&self) -> DenoiserHealth {
        DenoiserHealth {
            input: self.guard.counts(),
            resets: self.resets,
        }
    }

    /// Delay from input to output in samples: the STFT's `FFT_SIZE − HOP_SIZE` plus the lookahead.
    pub fn latency_samples(&self) -> usize {
        FFT_SIZE - HOP_SIZE + self.lookahead * HOP_SIZE
    }

    /// Back to the fresh state (new signal), keeping all buffers.
    pub fn reset(&mut self) {
        self.backend.reset_state(&mut self.state);
        self.analysis.reset();
        self.features.reset();
        self.ring.reset();
        self.synthesis.reset();
    }

    /// The run-time parameters.
    pub fn params(&self) -> &DenoiseParams {
        &self.params
    }

    /// Changes the run-time parameters (takes effect at the next hop); invalid ones are rejected.
    pub fn set_params(&mut self, params: DenoiseParams) -> Result<()> {
        params.validate()?;
        self.params = params;
        Ok(())
    }

    /// Enhances a whole mono 48 kHz signal from a fresh state (the denoiser is reset first). The output
    /// has the input's length and is sample-aligned with it: the tail is flushed with zeros and the
    /// first [`Denoiser::latency_samples`] output samples are dropped.
    pub fn process_signal(&mut self, samples: &[f32]) -> Result<Vec<f32>> {
        self.process_signal_with_progress(samples, |_| {})
    }

    /// [`Denoiser::process_signal`] that calls `on_hop(consumed)` after every hop, with the number of
    /// input samples consumed so far (it reaches `samples.len()` on the last hop), for progress display.
    pub fn process_signal_with_progress(
        &mut self,
        samples: &[f32],
        mut on_hop: impl FnMut(usize),
    ) -> Result<Vec<f32>> {
        self.reset();
        let delay = self.latency_samples();
        let hops = (samples.len() + delay).div_ceil(HOP_SIZE);
        let mut out = Vec::with_capacity(hops * HOP_SIZE);
        let mut hop_in = [0.0f32; HOP_SIZE];
        let mut hop_out = [0.0f32; HOP_SIZE];
        for t in 0..hops {
            let start = (t * HOP_SIZE).min(samples.len());
            let end = ((t + 1) * HOP_SIZE).min(samples.len());
            let chunk = &samples[start..end];
            hop_in[..chunk.len()].copy_from_slice(chunk);
            hop_in[chunk.len()..].fill(0.0);
            self.process_frame(&hop_in, &mut hop_out)?;
            out.extend_from_slice(&hop_out);
            on_hop(end);
        }
        out.drain(..delay.min(out.len()));
        out.truncate(samples.len());
        Ok(out)
    }
}

/// Reports the end of `stage` to the probe of a profiled hop, if any.
#[inline(always)]
fn mark(probe: &mut Option<&mut dyn FnMut(Stage)>, stage: Stage) {
    if let Some(p) = probe {
        p(stage);
    }
}
