//! The bench's workloads over any backend of the registry ([`AnyBackend`]): an offline batch, a
//! streaming step, the full pipeline hop by hop and in offline blocks, and a training step, each a small object the harness only has to
//! call and time. Per-engine behaviour the bench needs beyond [`Backend`] (device sync, how to spread a
//! batch over threads, the training step) is the [`BenchHooks`] trait, implemented per engine (the
//! libtorch one in [`torch`], MLX in [`mlx`]) and dispatched for [`AnyBackend`] here.
#[cfg(feature = "mlx")]
pub mod mlx;
#[cfg(feature = "tch")]
pub mod torch;

use std::sync::Arc;

use rayon::prelude::*;

use crate::backend::native::NativeBackend;
use crate::backend::registry::{AnyBackend, Inner};
use crate::backend::{Backend, Features, ModelOutput, SeqFeatures, SeqModelOutput};
use crate::config::HOP_SIZE;
use crate::denoiser::{DenoiseParams, Denoiser};
use crate::enhance::DENOISE_BLOCK_HOPS;
use crate::{Error, Result};

/// One timed iteration of a whole-batch workload (an offline sequence or a training step).
pub trait Workload {
    /// Runs the workload once; the caller times it, including [`BenchHooks::sync`].
    fn run(&mut self) -> Result<()>;
}

/// A single stream processed hop by hop (or block by block); the caller times each
/// [`FrameWorkload::frame`].
pub trait FrameWorkload {
    /// Number of distinct input frames; `frame(t)` takes `t` modulo this.
    fn frames(&self) -> usize;
    /// Back to a fresh stream (not timed).
    fn reset(&mut self);
    /// Processes frame `t`.
    fn frame(&mut self, t: usize) -> Result<()>;
    /// Hops that `frame(t)` processes (its time is divided by them): 1 unless a frame is a block.
    fn hops_of(&self, t: usize) -> usize {
        let _ = t;
        1
    }
}

/// Per-backend behaviour the bench needs beyond [`Backend`].
pub trait BenchHooks: Backend {
    /// Waits for queued device work (GPU backends run asynchronously); CPU backends have nothing to wait for.
    fn sync(&self) -> Result<()> {
        Ok(())
    }
    /// Whether a batch should be split into per-thread groups of streams: true for backends that run each
    /// stream on one thread and have no threading of their own.
    fn split_batch_across_threads(&self) -> bool {
        false
    }
    /// One forward + backward pass over `feats`, or why this backend cannot train.
    fn train_workload<'a>(
        &'a self,
        feats: &SeqFeatures,
    ) -> std::result::Result<Box<dyn Workload + 'a>, String> {
        let _ = feats;
        Err(format!("{} has no autograd", self.name()))
    }
}

impl BenchHooks for NativeBackend {
    fn split_batch_across_threads(&self) -> bool {
        true
    }
}

impl BenchHooks for AnyBackend {
    fn sync(&self) -> Result<()> {
        match self.inner() {
            Inner::Native(b) => b.sync(),
            #[cfg(feature = "tch")]
            Inner::Tch(b) => b.sync(),
            #[cfg(feature = "mlx")]
            Inner::Mlx(b) => b.sync(),
        }
    }

    fn split_batch_across_threads(&self) -> bool {
        match self.inner() {
            Inner::Native(b) => b.split_batch_across_threads(),
            #[cfg(feature = "tch")]
            Inner::Tch(b) => b.split_batch_across_threads(),
            #[cfg(feature = "mlx")]
            Inner::Mlx(b) => b.split_batch_across_threads(),
        }
    }

    fn train_workload<'a>(
        &'a self,
        feats: &SeqFeatures,
    ) -> std::result::Result<Box<dyn Workload + 'a>, String> {
        match self.inner() {
            Inner::Native(b) => b.train_workload(feats),
            #[cfg(feature = "tch")]
            Inner::Tch(b) => b.train_workload(feats),
            #[cfg(feature = "mlx")]
            Inner::Mlx(b) => b.train_workload(feats),
        }
    }
}

/// `run_sequence` over the whole batch of `feats`, spread over `pool` where the backend wants that.
pub fn offline<'a>(
    backend: &'a AnyBackend,
    feats: &SeqFeatures,
    pool: &'a rayon::ThreadPool,
) -> Result<Box<dyn Workload + 'a>> {
    let groups = if backend.split_batch_across_threads() {
        pool.current_num_threads().clamp(1, feats.batch.max(1))
    } else {
        1
    };
    Ok(Box::new(Offline {
        backend,
        chunks: split_streams(backend.config(), feats, groups),
        pool,
    }))
}

/// `step` on one stream, frame by frame through `feats` (batch 1).
pub fn streaming<'a>(
    backend: &'a AnyBackend,
    feats: &SeqFeatures,
) -> Result<Box<dyn FrameWorkload + 'a>> {
    let cfg = backend.config();
    if feats.batch != 1 || feats.frames == 0 {
        return Err(Error::InvalidInput(
            "streaming needs one stream of at least one frame".into(),
        ));
    }
    Ok(Box::new(Streaming {
        backend,
        state: backend.new_state(1)?,
        frame_in: Features::zeros(cfg, 1),
        out: ModelOutput::zeros(cfg, 1),
        feats: feats.clone(),
    }))
}

/// `Denoiser::process_frame` on one stream, hop by hop through `samples` (a multiple of the hop).
pub fn pipeline(backend: &Arc<AnyBackend>, samples: &[f32]) -> Result<Box<dyn FrameWorkload>> {
    if samples.is_empty() || !samples.len().is_multiple_of(HOP_SIZE) {
        return Err(Error::InvalidInput(
            "pipeline input must be a positive number of hops".into(),
        ));
    }
    Ok(Box::new(Pipeline {
        denoiser: Denoiser::new(Arc::clone(backend), DenoiseParams::default())?,
        samples: samples.to_vec(),
        out: [0.0; HOP_SIZE],
    }))
}

/// `Denoiser::process_block` on one stream through `samples` (a multiple of the hop) in blocks of
/// [`DENOISE_BLOCK_HOPS`] hops (the last one partial), as `enhance` runs it; one frame is one block.
pub fn block_pipeline(
    backend: &Arc<AnyBackend>,
    samples: &[f32],
) -> Result<Box<dyn FrameWorkload>> {
    if samples.is_empty() || !samples.len().is_multiple_of(HOP_SIZE) {
        return Err(Error::InvalidInput(
            "pipeline input must be a positive number of hops".into(),
        ));
    }
    let mut denoiser = Denoiser::new(Arc::clone(backend), DenoiseParams::default())?;
    denoiser.reserve_block(DENOISE_BLOCK_HOPS)?;
    Ok(Box::new(BlockPipeline {
        denoiser,
        samples: samples.to_vec(),
        out: vec![0.0; DENOISE_BLOCK_HOPS * HOP_SIZE],
    }))
}

/// Applies the bench's thread count to backends with a thread pool of their own (libtorch's intra-op
/// pool, the OpenBLAS under MLX's CPU backend), so that every backend is measured on the same number
/// of cores.
pub fn set_backend_threads(threads: usize) {
    #[cfg(feature = "tch")]
    tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
    #[cfg(feature = "mlx")]
    crate::backend::mlx::set_blas_threads(threads);
    #[cfg(not(any(feature = "tch", feature = "mlx")))]
    let _ = threads;
}

/// The streams of `feats` in `groups` contiguous groups, each with its own output buffer.
fn split_streams(
    cfg: &crate::config::ModelConfig,
    feats: &SeqFeatures,
    groups: usize,
) -> Vec<(SeqFeatures, SeqModelOutput)> {
    let (b, t) = (feats.batch, feats.frames);
    let (erb_len, spec_len) = (t * cfg.nb_erb, t * 2 * cfg.nb_df);
    let mut chunks = Vec::with_capacity(groups);
    let mut s0 = 0;
    for g in 0..groups {
        // Spread the remainder over the first groups so sizes differ by at most one stream.
        let n = b / groups + usize::from(g < b % groups);
        chunks.push((
            SeqFeatures {
                batch: n,
                frames: t,
                erb: feats.erb[s0 * erb_len..(s0 + n) * erb_len].to_vec(),
                spec: feats.spec[s0 * spec_len..(s0 + n) * spec_len].to_vec(),
            },
            SeqModelOutput::zeros(cfg, n, t),
        ));
        s0 += n;
    }
    chunks
}

struct Offline<'a, B> {
    backend: &'a B,
    chunks: Vec<(SeqFeatures, SeqModelOutput)>,
    pool: &'a rayon::ThreadPool,
}

impl<B: Backend + Sync> Workload for Offline<'_, B> {
    fn run(&mut self) -> Result<()> {
        let backend = self.backend;
        if let [(feats, out)] = self.chunks.as_mut_slice() {
            return backend.run_sequence(feats, out);
        }
        self.pool.install(|| {
            self.chunks
                .par_iter_mut()
                .try_for_each(|(feats, out)| backend.run_sequence(feats, out))
        })
    }
}

struct Streaming<'a, B: Backend> {
    backend: &'a B,
    state: B::State,
    frame_in: Features,
    out: ModelOutput,
    feats: SeqFeatures,
}

impl<B: Backend> FrameWorkload for Streaming<'_, B> {
    fn frames(&self) -> usize {
        self.feats.frames
    }
    fn reset(&mut self) {
        self.backend.reset_state(&mut self.state);
    }
    fn frame(&mut self, t: usize) -> Result<()> {
        let t = t % self.feats.frames;
        let (ne, ns) = (self.frame_in.erb.len(), self.frame_in.spec.len());
        // Copying one frame (128 floats) is part of what a real stream pays to hand features over.
        self.frame_in
            .erb
            .copy_from_slice(&self.feats.erb[t * ne..(t + 1) * ne]);
        self.frame_in
            .spec
            .copy_from_slice(&self.feats.spec[t * ns..(t + 1) * ns]);
        self.backend
            .step(&self.frame_in, &mut self.state, &mut self.out)
    }
}

struct Pipeline<B: Backend> {
    denoiser: Denoiser<B>,
    samples: Vec<f32>,
    out: [f32; HOP_SIZE],
}

impl<B: Backend> FrameWorkload for Pipeline<B> {
    fn frames(&self) -> usize {
        self.samples.len() / HOP_SIZE
    }
    fn reset(&mut self) {
        self.denoiser.reset();
    }
    fn frame(&mut self, t: usize) -> Result<()> {
        let t = t % self.frames();
        let hop: &[f32; HOP_SIZE] = self.samples[t * HOP_SIZE..(t + 1) * HOP_SIZE]
            .try_into()
            .map_err(|_| Error::InvalidInput("hop of the wrong length".into()))?;
        self.denoiser.process_frame(hop, &mut self.out).map(|_| ())
    }
}

struct BlockPipeline<B: Backend> {
    denoiser: Denoiser<B>,
    samples: Vec<f32>,
    out: Vec<f32>,
}

impl<B: Backend> BlockPipeline<B> {
    /// Samples `[start, end)` of block `t`.
    fn span(&self, t: usize) -> (usize, usize) {
        let block = DENOISE_BLOCK_HOPS * HOP_SIZE;
        let start = (t % self.frames()) * block;
        (start, (start + block).min(self.samples.len()))
    }
}

impl<B: Backend> FrameWorkload for BlockPipeline<B> {
    fn frames(&self) -> usize {
        (self.samples.len() / HOP_SIZE).div_ceil(DENOISE_BLOCK_HOPS)
    }
    fn reset(&mut self) {
        self.denoiser.reset();
    }
    fn frame(&mut self, t: usize) -> Result<()> {
        let (start, end) = self.span(t);
        self.denoiser
            .process_block(&self.samples[start..end], &mut self.out[..end - start])
    }
    fn hops_of(&self, t: usize) -> usize {
        let (start, end) = self.span(t);
        (end - start) / HOP_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    #[test]
    fn split_keeps_every_stream_in_order() {
        let cfg = ModelConfig::default();
        let (b, t) = (5, 3);
        let mut feats = SeqFeatures::zeros(&cfg, b, t);
        for (i, x) in feats.erb.iter_mut().enumerate() {
            *x = i as f32;
        }
        let chunks = split_streams(&cfg, &feats, 2);
        assert_eq!(chunks.iter().map(|c| c.0.batch).collect::<Vec<_>>(), [3, 2]);
        let joined: Vec<f32> = chunks.iter().flat_map(|c| c.0.erb.clone()).collect();
        assert_eq!(joined, feats.erb);
        assert!(chunks
            .iter()
            .all(|c| c.1.batch == c.0.batch && c.1.frames == t));
    }
}
