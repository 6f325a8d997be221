//! [`Denoiser`]: one mono 48 kHz stream, one 10 ms hop at a time. It owns the DSP state (STFT memories,
//! feature normalisation, the ring of noisy spectra) and the backend's recurrent state; every buffer is
//! allocated in [`Denoiser::new`], so [`Denoiser::process_frame`] never allocates.
//!
//! Per hop: analysis → features → `Backend::step` → [`deep_filter::enhance_frame`] on frame
//! `t − lookahead` → synthesis. The output lags the input by [`Denoiser::latency_samples`].
//!
//! Offline, [`Denoiser::process_block`] runs the same chain on a block of consecutive hops: analysis
//! and features of every hop, one `Backend::step_block` for all of them (the native engine then reads
//! each dense layer's weights once per block instead of once per hop), then deep filter and synthesis
//! of every hop. The model is causal, so the output equals the hops run one by one; only a real-time
//! caller could not wait for a block's last hop before hearing its first.
//!
//! Hostile input never breaks the stream: each hop is repaired first ([`crate::dsp::sanitize`]: NaN/Inf
//! → 0, beyond ±1000 clamped), so the model only sees audio; and if a hop's output is ever non-finite
//! anyway, that hop is silenced and the denoiser resets itself, so the next hop is finite again. Both
//! are counted ([`Denoiser::health`]) for the host to read.
use std::sync::Arc;

use crate::backend::{Backend, Features, ModelOutput, SeqFeatures, SeqModelOutput};
use crate::config::{ModelConfig, FFT_SIZE, HOP_SIZE, NB_FREQS};
use crate::dsp::deep_filter::{self, SpecRing};
use crate::dsp::features::FeatureState;
use crate::dsp::sanitize::{InputGuard, SanitizeCounts};
use crate::dsp::stft::{Analysis, Synthesis};
use crate::dsp::Complex32;
use crate::stage::Stage;
use crate::{Error, Result};

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
    /// Buffers of [`Denoiser::process_block`] (none until the first block or
    /// [`Denoiser::reserve_block`], so a real-time denoiser does not hold them).
    block: Option<Block>,
}

/// What [`Denoiser::process_block`] keeps for a block of up to `hops` hops.
struct Block {
    hops: usize,
    /// The block's input as the model sees it (repaired), `[hops][HOP_SIZE]`.
    input: Vec<f32>,
    /// The noisy spectrum of each hop, `[hops][NB_FREQS]`, kept from the analysis until the deep
    /// filter takes it.
    spec: Vec<Complex32>,
    feats: SeqFeatures,
    out: SeqModelOutput,
}

impl Block {
    fn new(cfg: &ModelConfig, hops: usize) -> Self {
        Self {
            hops,
            input: vec![0.0; hops * HOP_SIZE],
            spec: vec![Complex32::default(); hops * NB_FREQS],
            feats: SeqFeatures::zeros(cfg, 1, hops),
            out: SeqModelOutput::zeros(cfg, 1, hops),
        }
    }

    /// Sets the model's input and output to `frames ≤ self.hops` frames (within the buffers'
    /// capacity: never allocates).
    fn set_frames(&mut self, cfg: &ModelConfig, frames: usize) {
        debug_assert!(frames <= self.hops);
        self.feats.frames = frames;
        self.feats.erb.resize(frames * cfg.nb_erb, 0.0);
        self.feats.spec.resize(frames * 2 * cfg.nb_df, 0.0);
        self.out.frames = frames;
        self.out.gains.resize(frames * cfg.nb_erb, 0.0);
        self.out.coefs.resize(frames * cfg.df_out_dim(), 0.0);
        self.out.lsnr_db.resize(frames, 0.0);
    }
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
            block: None,
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

    /// Makes [`Denoiser::process_block`] calls of up to `hops` hops allocation-free: allocates their
    /// buffers (here and in the backend's state) now.
    pub fn reserve_block(&mut self, hops: usize) -> Result<()> {
        if self.block.as_ref().is_none_or(|b| b.hops < hops) {
            self.block = Some(Block::new(self.backend.config(), hops));
        }
        self.backend.reserve_block(&mut self.state, hops)
    }

    /// Enhances `input.len() / HOP_SIZE` consecutive hops at once into `output` (same length, a
    /// whole number of hops): equal to [`Denoiser::process_frame`] on each hop in turn, within the
    /// tolerance of the backend's `step_block` against its `step` (the native engine: the same
    /// arithmetic), repairs and resets included: input that is not audio is repaired and counted per
    /// hop, and a hop whose output is non-finite is silenced and resets the denoiser, the hops after
    /// it being run again from the fresh state as they would have been one by one. For offline use:
    /// no output before the block's last hop is in. Allocates only for more hops than
    /// [`Denoiser::reserve_block`] prepared.
    pub fn process_block(&mut self, input: &[f32], output: &mut [f32]) -> Result<()> {
        if input.len() != output.len() || !input.len().is_multiple_of(HOP_SIZE) {
            return Err(Error::InvalidInput(format!(
                "a block takes whole hops of {HOP_SIZE} samples in and out, got {} in and {} out",
                input.len(),
                output.len()
            )));
        }
        let hops = input.len() / HOP_SIZE;
        if hops == 0 {
            return Ok(());
        }
        self.reserve_block(hops)?;
        let Some(mut block) = self.block.take() else {
            return Ok(());
        };
        block.input[..input.len()].copy_from_slice(input);
        for hop in block.input[..input.len()].chunks_exact_mut(HOP_SIZE) {
            self.guard.sanitize(hop);
        }
        let mut first = 0;
        let result = loop {
            match self.run_block(&mut block, first, hops, output) {
                Ok(Some(reset_at)) => first = reset_at + 1,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.block = Some(block);
        result
    }

    /// Hops `first..hops` of `block.input` (repaired) through the chain: analysis and features of each,
    /// one `step_block`, deep filter and synthesis of each. Stops at the first hop whose output is
    /// non-finite (silenced, the denoiser reset) and returns it: the later hops must run again.
    fn run_block(
        &mut self,
        block: &mut Block,
        first: usize,
        hops: usize,
        output: &mut [f32],
    ) -> Result<Option<usize>> {
        let cfg = self.backend.config();
        let (nb_erb, nb_spec, nb_coefs) = (cfg.nb_erb, 2 * cfg.nb_df, cfg.df_out_dim());
        let frames = hops - first;
        block.set_frames(cfg, frames);
        for j in 0..frames {
            let hop = &block.input[(first + j) * HOP_SIZE..][..HOP_SIZE];
            let spec = &mut block.spec[j * NB_FREQS..][..NB_FREQS];
            self.analysis.process(hop, spec);
            self.features.compute(
                spec,
                &mut block.feats.erb[j * nb_erb..][..nb_erb],
                &mut block.feats.spec[j * nb_spec..][..nb_spec],
            );
        }
        self.backend
            .step_block(&block.feats, &mut self.state, &mut block.out)?;
        for j in 0..frames {
            self.ring.push(&block.spec[j * NB_FREQS..][..NB_FREQS]);
            deep_filter::enhance_frame(
                &self.ring,
                &block.out.gains[j * nb_erb..][..nb_erb],
                &block.out.coefs[j * nb_coefs..][..nb_coefs],
                block.out.lsnr_db[j],
                self.df_order,
                self.lookahead,
                self.features.erb_widths(),
                &self.params,
                &mut self.enhanced,
            );
            let out = &mut output[(first + j) * HOP_SIZE..][..HOP_SIZE];
            self.synthesis.process(&mut self.enhanced, out);
            if !out.iter().all(|x| x.is_finite()) {
                out.fill(0.0);
                self.reset();
                self.resets += 1;
                return Ok(Some(first + j));
            }
        }
        Ok(None)
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
