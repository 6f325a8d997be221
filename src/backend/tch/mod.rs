//! The libtorch backend (feature `tch`): DfNet4 on CPU, CUDA or MPS through `tch`.
//!
//! The network itself is [`net::DfNet4`], which the trainer uses too; this module adapts it to the
//! [`Backend`] trait (plain `f32` slices in and out, state tensors kept on the device between steps).
//! On CUDA, steps and repeated sequence shapes replay CUDA graphs ([`graph`]) unless
//! `DFN4_CUDA_GRAPHS` says otherwise ([`CudaGraphs::from_env`]).
pub mod cuda_graph;
pub mod fused_scan;
mod graph;
mod io;
pub mod net;
pub mod scan;
mod shim;

use std::sync::Mutex;

use tch::{nn, Device, Kind, Tensor};

use self::graph::{SeqGraphs, StepGraph};
use self::net::{DfNet4, LayerState};
use crate::backend::registry::{self, TchDevice};
use crate::backend::{
    check_sequence, check_sequence_features, check_step, Backend, Features, ModelOutput,
    SeqFeatures, SeqModelOutput,
};
use crate::config::ModelConfig;
use crate::model::Weights;
use crate::{Error, Result};

/// Makes libtorch's CUDA kernels available. The linker drops `libtorch_cuda.so` because nothing
/// references it directly, and then CUDA never registers; loading it by hand before the first tch call
/// fixes that. Returns whether the library was found (false on CPU-only installs, which is harmless).
pub fn register_cuda() -> bool {
    let name = c"libtorch_cuda.so";
    // SAFETY: dlopen with a valid NUL-terminated name; the handle is deliberately kept for the process
    // lifetime (the library must stay loaded).
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    !handle.is_null()
}

/// Parses "cpu", "cuda", "cuda:N", "mps" or "auto" (CUDA if available, else CPU).
pub fn parse_device(s: &str) -> Result<Device> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        "mps" => Ok(Device::Mps),
        "auto" => Ok(Device::cuda_if_available()),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|i| i.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown device {s:?} (cpu, cuda, cuda:N, mps, auto)"
                ))
            }),
    }
}

/// The libtorch device of `kind` when this machine has it, with a one-line reason (naming the backend
/// `name`) when it does not. Loads libtorch's CUDA kernels ([`register_cuda`]) before asking for CUDA,
/// since without them CUDA never reports as available. The names live in [`registry::BACKENDS`].
pub fn device(kind: TchDevice, name: &str) -> Result<Device> {
    let missing = |what: &str| {
        Err(Error::Backend(format!(
            "{name}: {what} is not available on this machine"
        )))
    };
    match kind {
        TchDevice::Cpu => Ok(Device::Cpu),
        TchDevice::Cuda => {
            register_cuda();
            if tch::Cuda::is_available() {
                Ok(Device::Cuda(0))
            } else {
                missing("CUDA")
            }
        }
        TchDevice::Mps => {
            if tch::utils::has_mps() {
                Ok(Device::Mps)
            } else {
                missing("MPS")
            }
        }
    }
}

/// Which calls of a CUDA backend replay CUDA graphs instead of launching every kernel from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CudaGraphs {
    /// Every kernel launched eagerly (and the only choice off CUDA).
    Off,
    /// `step`: one graph per state, captured on its first step.
    Step,
    /// `step` as above, and `run_sequence` with one graph per `(batch, frames)` shape, captured on the
    /// shape's second use (a few shapes are kept).
    StepAndSequence,
}

impl CudaGraphs {
    /// The mode `DFN4_CUDA_GRAPHS` asks for: "0"/"off" → [`Off`](Self::Off), "step" →
    /// [`Step`](Self::Step), unset/"1"/"on"/"all" → [`StepAndSequence`](Self::StepAndSequence).
    pub fn from_env() -> Result<Self> {
        match std::env::var("DFN4_CUDA_GRAPHS") {
            Err(std::env::VarError::NotPresent) => Ok(Self::StepAndSequence),
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "0" | "off" => Ok(Self::Off),
                "step" => Ok(Self::Step),
                "" | "1" | "on" | "all" => Ok(Self::StepAndSequence),
                other => Err(Error::Config(format!(
                    "DFN4_CUDA_GRAPHS={other:?} (0, off, step, 1, on, all)"
                ))),
            },
            Err(e) => Err(Error::Config(format!("DFN4_CUDA_GRAPHS: {e}"))),
        }
    }
}

/// DfNet4 on a libtorch device.
pub struct TchBackend {
    name: &'static str,
    device: Device,
    vs: nn::VarStore,
    net: DfNet4,
    graphs: CudaGraphs,
    /// Why graphs were wanted but are off (the shim could not load).
    graphs_unavailable: Option<String>,
    seq_graphs: Mutex<SeqGraphs>,
}

// SAFETY: the parameter values are never mutated after construction (inference runs under no_grad and
// only reads parameters), and libtorch allows concurrent reads of a tensor from several threads. The one
// writer, `forward_backward`, only touches the parameters' gradient tensors, which inference never reads,
// and libtorch accumulates gradients under a per-variable lock.
unsafe impl Sync for TchBackend {}
// SAFETY: tch tensors are Send; the raw handles carry no thread affinity.
unsafe impl Send for TchBackend {}

/// Recurrent state of `batch` streams: per Mamba block the conv ring and SSM state, on the device
/// (updated in place), and on CUDA the step graph captured over them.
pub struct TchState {
    batch: usize,
    layers: Vec<LayerState>,
    graph: Option<StepGraph>,
}

impl TchState {
    /// Kernels (graph nodes) one step of this state launches, once its CUDA graph is captured; None
    /// before that or without graphs.
    pub fn graph_nodes(&self) -> Option<usize> {
        self.graph.as_ref().map(StepGraph::nodes)
    }
}

impl TchBackend {
    /// Copies `weights` into a var store on `device` (names and shapes exactly as in `model::spec`). On
    /// CUDA, graphs are used as `DFN4_CUDA_GRAPHS` says ([`CudaGraphs::from_env`]) where this process can
    /// load them, else the backend runs eagerly and [`cuda_graphs`](Self::cuda_graphs) says why.
    pub fn new(weights: &Weights, device: Device) -> Result<Self> {
        let wanted = match device {
            Device::Cuda(_) => CudaGraphs::from_env()?,
            _ => CudaGraphs::Off,
        };
        let mut backend = Self::with_cuda_graphs(weights, device, CudaGraphs::Off)?;
        if wanted != CudaGraphs::Off {
            match cuda_graph::availability() {
                Ok(()) => backend.set_graphs(wanted),
                Err(reason) => backend.graphs_unavailable = Some(reason),
            }
        }
        Ok(backend)
    }

    /// Like [`new`](Self::new) with an explicit graph mode (the environment is not read); graphs need a
    /// CUDA device and a loadable shim, else this fails.
    pub fn with_cuda_graphs(weights: &Weights, device: Device, graphs: CudaGraphs) -> Result<Self> {
        if graphs != CudaGraphs::Off {
            if !matches!(device, Device::Cuda(_)) {
                return Err(Error::Config(format!(
                    "CUDA graphs need a CUDA device, not {device:?}"
                )));
            }
            cuda_graph::availability().map_err(Error::Backend)?;
        }
        let vs = nn::VarStore::new(device);
        let net = DfNet4::new(&vs.root(), weights)?;
        let mut backend = Self {
            name: "",
            device,
            vs,
            net,
            graphs: CudaGraphs::Off,
            graphs_unavailable: None,
            seq_graphs: Mutex::new(SeqGraphs::default()),
        };
        backend.set_graphs(graphs);
        Ok(backend)
    }

    /// Sets the mode and the name that reports it.
    fn set_graphs(&mut self, graphs: CudaGraphs) {
        self.graphs = graphs;
        let kind = match self.device {
            Device::Cuda(_) => TchDevice::Cuda,
            Device::Mps => TchDevice::Mps,
            _ => TchDevice::Cpu,
        };
        self.name = registry::tch_name(kind, graphs != CudaGraphs::Off);
    }

    /// The graph mode in use, and why graphs are off when they were wanted but could not be loaded.
    pub fn cuda_graphs(&self) -> (CudaGraphs, Option<&str>) {
        (self.graphs, self.graphs_unavailable.as_deref())
    }

    /// Sequence shapes `(batch, frames)` with a captured graph, most recently used first, with each
    /// graph's node count.
    pub fn sequence_graphs(&self) -> Vec<((usize, usize), usize)> {
        self.seq_graphs
            .lock()
            .map(|g| g.captured())
            .unwrap_or_default()
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The var store holding the parameters (PyTorch-style names).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// A batch of sequence features as device tensors `(erb [B, T, nb_erb], spec [B, T, 2, nb_df])`, the
    /// inputs of [`forward_backward`](Self::forward_backward).
    pub fn seq_tensors(&self, feats: &SeqFeatures) -> Result<(Tensor, Tensor)> {
        let cfg = self.net.config();
        let (b, t) = (feats.batch, feats.frames);
        check_sequence_features(cfg, feats)?;
        let (bi, ti) = (b as i64, t as i64);
        Ok((
            self.input(&feats.erb, &[bi, ti, cfg.nb_erb as i64]),
            self.input(&feats.spec, &[bi, ti, 2, cfg.nb_df as i64]),
        ))
    }

    /// One forward + backward pass of the sequence model, the cost of a training step without the
    /// optimiser: zeroes the parameters' gradients, runs `erb [B, T, nb_erb]`, `spec [B, T, 2, nb_df]`
    /// (see [`seq_tensors`](Self::seq_tensors)) with autograd and back-propagates a simple loss, the mean
    /// square of every output head (so every parameter gets a gradient). Returns the scalar loss on the
    /// device; the gradients are left in the parameters' `grad`. Parameter values do not change. Two
    /// concurrent calls on one backend mix their gradients.
    pub fn forward_backward(&self, erb: &Tensor, spec: &Tensor) -> Tensor {
        for mut p in self.vs.trainable_variables() {
            p.zero_grad();
        }
        let o = self.net.forward_seq(erb, spec);
        // LSNR spans tens of dB; scaling it to about unit range keeps the three terms comparable.
        let lsnr_scale = 1.0 / f64::from(crate::config::LSNR_MAX_DB - crate::config::LSNR_MIN_DB);
        let loss = o.gains.square().mean(Kind::Float)
            + o.coefs.square().mean(Kind::Float)
            + (o.lsnr_db * lsnr_scale).square().mean(Kind::Float);
        loss.backward();
        loss
    }

    fn input(&self, data: &[f32], shape: &[i64]) -> Tensor {
        Tensor::from_slice(data)
            .reshape(shape)
            .to_device(self.device)
    }
}

impl Backend for TchBackend {
    type State = TchState;

    fn name(&self) -> &'static str {
        self.name
    }

    fn config(&self) -> &ModelConfig {
        self.net.config()
    }

    fn new_state(&self, batch: usize) -> Result<TchState> {
        Ok(TchState {
            batch,
            layers: self.net.zero_state(batch as i64, self.device),
            graph: None,
        })
    }

    fn reset_state(&self, state: &mut TchState) {
        tch::no_grad(|| {
            for l in &mut state.layers {
                let _ = l.conv.zero_();
                let _ = l.ssm.zero_();
            }
        });
    }

    fn step(&self, feats: &Features, state: &mut TchState, out: &mut ModelOutput) -> Result<()> {
        check_step(self.net.config(), feats, state.batch, out)?;
        let b = feats.batch;
        let parts: [&[f32]; 2] = [&feats.erb, &feats.spec];
        let mut outs: [&mut [f32]; 3] = [&mut out.gains, &mut out.coefs, &mut out.lsnr_db];
        if b > 0 && self.graphs != CudaGraphs::Off {
            let g = match &mut state.graph {
                Some(g) => g,
                none => none.insert(StepGraph::capture(
                    &self.net,
                    self.device,
                    b,
                    &mut state.layers,
                )?),
            };
            return g.run(&parts, &mut outs);
        }
        let input = io::upload(self.device, &parts)?;
        let o = tch::no_grad(|| self.net.forward_step_packed(&input, &mut state.layers));
        io::download(&o, &mut outs)
    }

    fn run_sequence(&self, feats: &SeqFeatures, out: &mut SeqModelOutput) -> Result<()> {
        check_sequence(self.net.config(), feats, out)?;
        let (b, t) = (feats.batch, feats.frames);
        if b == 0 || t == 0 {
            return Ok(());
        }
        let parts: [&[f32]; 2] = [&feats.erb, &feats.spec];
        let mut outs: [&mut [f32]; 3] = [&mut out.gains, &mut out.coefs, &mut out.lsnr_db];
        if self.graphs == CudaGraphs::StepAndSequence {
            let mut graphs = self
                .seq_graphs
                .lock()
                .map_err(|_| Error::Backend("sequence graph cache poisoned".into()))?;
            if graphs.run(&self.net, self.device, (b, t), &parts, &mut outs)? {
                return Ok(());
            }
        }
        let input = io::upload(self.device, &parts)?;
        let o = tch::no_grad(|| self.net.forward_seq_packed(&input, b as i64, t as i64));
        io::download(&o, &mut outs)
    }
}
