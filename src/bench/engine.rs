//! The backends the bench can measure, behind one object-safe trait. [`Backend`] has an associated state
//! type and so cannot be boxed; [`BenchBackend`] wraps any `Backend` (plus its [`BenchHooks`]: device
//! sync, training step) into workloads the harness only has to call and time. Adding a backend is one
//! arm in [`create`] and one `impl BenchHooks` (the libtorch one is in [`torch`]).
#[cfg(feature = "mlx")]
pub mod mlx;
#[cfg(feature = "tch")]
pub mod torch;

use std::sync::Arc;

use rayon::prelude::*;

use crate::backend::native::{NativeBackend, WeightPrecision};
use crate::backend::{Backend, Features, ModelOutput, SeqFeatures, SeqModelOutput};
use crate::config::HOP_SIZE;
use crate::denoiser::{DenoiseParams, Denoiser};
use crate::model::Weights;
use crate::{Error, Result};

/// Every backend name the bench knows, in the order they are listed.
pub const KNOWN_BACKENDS: &[&str] = &[
    "native",
    "native-f16",
    "native-i8",
    "tch-cpu",
    "tch-cuda",
    "tch-cuda-eager",
    "tch-mps",
    "mlx-cpu",
    "mlx-gpu",
];

/// One timed iteration of a whole-batch workload (an offline sequence or a training step).
pub trait Workload {
    /// Runs the workload once; the caller times it, including [`BenchBackend::sync`].
    fn run(&mut self) -> Result<()>;
}

/// A single stream processed hop by hop; the caller times each [`FrameWorkload::frame`].
pub trait FrameWorkload {
    /// Number of distinct input frames; `frame(t)` takes `t` modulo this.
    fn frames(&self) -> usize;
    /// Back to a fresh stream (not timed).
    fn reset(&mut self);
    /// Processes frame `t`.
    fn frame(&mut self, t: usize) -> Result<()>;
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

/// A backend as the harness sees it.
pub trait BenchBackend: Send + Sync {
    /// The backend's name ("native", "tch-cuda", ...).
    fn name(&self) -> &'static str;
    /// Waits for all queued work to finish; called after every timed iteration.
    fn sync(&self) -> Result<()>;
    /// `run_sequence` over the whole batch of `feats`, spread over `pool` where the backend wants that.
    fn offline<'a>(
        &'a self,
        feats: &SeqFeatures,
        pool: &'a rayon::ThreadPool,
    ) -> Result<Box<dyn Workload + 'a>>;
    /// `step` on one stream, frame by frame through `feats` (batch 1).
    fn streaming<'a>(&'a self, feats: &SeqFeatures) -> Result<Box<dyn FrameWorkload + 'a>>;
    /// `Denoiser::process_frame` on one stream, hop by hop through `samples` (a multiple of the hop).
    fn pipeline<'a>(&'a self, samples: &[f32]) -> Result<Box<dyn FrameWorkload + 'a>>;
    /// A training step (forward + backward) over `feats`, or why there is none.
    fn train<'a>(
        &'a self,
        feats: &SeqFeatures,
    ) -> std::result::Result<Box<dyn Workload + 'a>, String>;
}

/// Backends compiled into this build.
pub fn compiled_backends() -> Vec<&'static str> {
    let mut v = vec!["native", "native-f16", "native-i8"];
    if cfg!(feature = "tch") {
        // "tch-cuda-eager": CUDA without CUDA graphs, to show what the graphs of "tch-cuda" gain.
        v.extend(["tch-cpu", "tch-cuda", "tch-cuda-eager", "tch-mps"]);
    }
    if cfg!(feature = "mlx") {
        v.extend(["mlx-cpu", "mlx-gpu"]);
    }
    v
}

/// Backends compiled in and usable on this machine (a device backend whose device is absent is left out).
pub fn default_backends() -> Vec<&'static str> {
    compiled_backends()
        .into_iter()
        .filter(|n| is_available(n))
        .collect()
}

/// Device backends ask their runtime here (e.g. whether CUDA is present for "tch-cuda").
fn is_available(name: &str) -> bool {
    availability(name).is_ok()
}

/// Ok when the compiled-in backend `name` can run on this machine, else the one-line reason.
fn availability(name: &str) -> Result<()> {
    match name {
        "native" | "native-f16" | "native-i8" => Ok(()),
        #[cfg(feature = "tch")]
        "tch-cpu" | "tch-cuda" | "tch-cuda-eager" | "tch-mps" => {
            crate::backend::tch::backend_device(name).map(|_| ())
        }
        #[cfg(feature = "mlx")]
        "mlx-cpu" | "mlx-gpu" => crate::backend::mlx::backend_device(name).map(|_| ()),
        other => Err(Error::Config(format!(
            "backend \"{other}\" is compiled in but not wired into the bench"
        ))),
    }
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

/// Checks that `name` is a known, compiled-in backend, with a one-line reason when it is not.
pub fn check_name(name: &str) -> Result<()> {
    if !KNOWN_BACKENDS.contains(&name) {
        return Err(Error::Config(format!(
            "unknown backend \"{name}\" (known: {})",
            KNOWN_BACKENDS.join(", ")
        )));
    }
    if !compiled_backends().contains(&name) {
        let feature = name.split('-').next().unwrap_or(name);
        return Err(Error::Config(format!(
            "backend \"{name}\" is not compiled into this build (needs cargo feature \"{feature}\"; compiled in: {})",
            compiled_backends().join(", ")
        )));
    }
    availability(name)
}

/// The backend called `name`, built from `weights`.
pub fn create(name: &str, weights: &Weights) -> Result<Box<dyn BenchBackend>> {
    check_name(name)?;
    match name {
        "native" | "native-f16" | "native-i8" => {
            Ok(Box::new(Adapter::new(NativeBackend::with_precision(
                weights,
                WeightPrecision::of_backend(name).unwrap_or_default(),
            )?)))
        }
        #[cfg(feature = "tch")]
        "tch-cpu" | "tch-cuda" | "tch-cuda-eager" | "tch-mps" => Ok(Box::new(Adapter::new(
            crate::backend::tch::create(name, weights)?,
        ))),
        #[cfg(feature = "mlx")]
        "mlx-cpu" | "mlx-gpu" => {
            let device = crate::backend::mlx::backend_device(name)?;
            Ok(Box::new(Adapter::new(
                crate::backend::mlx::MlxBackend::new(weights, device)?,
            )))
        }
        other => Err(Error::Config(format!(
            "backend \"{other}\" is compiled in but not wired into the bench"
        ))),
    }
}

/// Any [`Backend`] with [`BenchHooks`], as a [`BenchBackend`].
pub struct Adapter<B> {
    backend: Arc<B>,
}

impl<B> Adapter<B> {
    /// Wraps `backend`.
    pub fn new(backend: B) -> Self {
        Self {
            backend: Arc::new(backend),
        }
    }
}

impl<B> BenchBackend for Adapter<B>
where
    B: BenchHooks + Send + Sync + 'static,
{
    fn name(&self) -> &'static str {
        self.backend.name()
    }

    fn sync(&self) -> Result<()> {
        self.backend.sync()
    }

    fn offline<'a>(
        &'a self,
        feats: &SeqFeatures,
        pool: &'a rayon::ThreadPool,
    ) -> Result<Box<dyn Workload + 'a>> {
        let groups = if self.backend.split_batch_across_threads() {
            pool.current_num_threads().clamp(1, feats.batch.max(1))
        } else {
            1
        };
        Ok(Box::new(Offline {
            backend: &*self.backend,
            chunks: split_streams(self.backend.config(), feats, groups),
            pool,
        }))
    }

    fn streaming<'a>(&'a self, feats: &SeqFeatures) -> Result<Box<dyn FrameWorkload + 'a>> {
        let cfg = self.backend.config();
        if feats.batch != 1 || feats.frames == 0 {
            return Err(Error::InvalidInput(
                "streaming needs one stream of at least one frame".into(),
            ));
        }
        Ok(Box::new(Streaming {
            backend: &*self.backend,
            state: self.backend.new_state(1)?,
            frame_in: Features::zeros(cfg, 1),
            out: ModelOutput::zeros(cfg, 1),
            feats: feats.clone(),
        }))
    }

    fn pipeline<'a>(&'a self, samples: &[f32]) -> Result<Box<dyn FrameWorkload + 'a>> {
        if samples.is_empty() || !samples.len().is_multiple_of(HOP_SIZE) {
            return Err(Error::InvalidInput(
                "pipeline input must be a positive number of hops".into(),
            ));
        }
        Ok(Box::new(Pipeline {
            denoiser: Denoiser::new(Arc::clone(&self.backend), DenoiseParams::default())?,
            samples: samples.to_vec(),
            out: [0.0; HOP_SIZE],
        }))
    }

    fn train<'a>(
        &'a self,
        feats: &SeqFeatures,
    ) -> std::result::Result<Box<dyn Workload + 'a>, String> {
        self.backend.train_workload(feats)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    #[test]
    fn names_are_checked_with_one_line_reasons() {
        check_name("native").unwrap();
        check_name("native-f16").unwrap();
        let unknown = check_name("cuda").unwrap_err().to_string();
        assert!(unknown
            .contains("unknown backend \"cuda\" (known: native, native-f16, native-i8, tch-cpu"));
        assert!(!unknown.contains('\n'));
        if cfg!(feature = "mlx") {
            check_name("mlx-cpu").unwrap();
        } else {
            let mlx = check_name("mlx-gpu").unwrap_err().to_string();
            assert!(mlx.contains("not compiled into this build"), "{mlx}");
            assert!(mlx.contains("\"mlx\""), "{mlx}");
            assert!(!mlx.contains('\n'));
        }
        assert_eq!(default_backends()[0], "native");
    }

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
