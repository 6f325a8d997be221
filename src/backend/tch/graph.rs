//! The network as CUDA graphs: one per streaming state (a step of `B` streams) and a small cache of
//! per-shape graphs for whole sequences. A step of DfNet4 launches a few hundred small kernels (the GPU
//! test prints the count); launched one by one from the host they cost more than they compute, while a
//! graph replays them all with one launch.
//!
//! Every graph reads a fixed packed input tensor and writes fixed output tensors (see
//! [`super::io`]); a step graph also reads and updates its stream state in place, so each replay continues
//! where the last one stopped.
use tch::{Device, Kind, Tensor};

use super::cuda_graph::CudaGraph;
use super::net::{DfNet4, LayerState};
use crate::{Error, Result};

/// Eager runs on the capture stream before capturing: the first creates cuBLAS/cuDNN handles, workspaces
/// and plans (which must not be created during capture); the second runs with everything cached.
const WARMUP_RUNS: usize = 2;

/// Distinct sequence shapes whose graphs are kept (least recently used ones are dropped).
const MAX_SEQ_GRAPHS: usize = 4;

/// Sequence shapes remembered as seen once; a shape is captured on its second use, so one-off lengths
/// never pay for a capture (or keep its memory).
const MAX_SEEN_SHAPES: usize = 16;

fn cuda_index(device: Device) -> Result<usize> {
    match device {
        Device::Cuda(i) => Ok(i),
        other => Err(Error::Config(format!(
            "CUDA graphs need a CUDA device, not {other:?}"
        ))),
    }
}

/// A step of `batch` streams captured over one [`TchState`](super::TchState)'s layer tensors.
pub struct StepGraph {
    /// Packed input (`[B·nb_erb | B·2·nb_df]`), written before each replay.
    input: Tensor,
    /// Packed output, rewritten by each replay (lives in the graph's memory pool).
    output: Tensor,
    // Declared last: dropped after the tensors that live in its pool.
    graph: CudaGraph,
}

impl StepGraph {
    /// Captures one step of `net` over `layers` (which every replay then advances in place). Captures
    /// only: nothing runs and `layers` is unchanged until the first [`run`](Self::run).
    pub fn capture(
        net: &DfNet4,
        device: Device,
        batch: usize,
        layers: &mut [LayerState],
    ) -> Result<Self> {
        let mut graph = CudaGraph::new(cuda_index(device)?)?;
        let b = batch as i64;
        let input = Tensor::zeros([b * net.packed_input_len()], (Kind::Float, device));
        tch::no_grad(|| {
            graph.on_capture_stream(|| {
                // Scratch state: warming up must not advance the caller's streams.
                let mut scratch = net.zero_state(b, device);
                for _ in 0..WARMUP_RUNS {
                    let _ = net.forward_step_packed(&input, &mut scratch);
                }
            })?;
            let output = graph.capture(|| net.forward_step_packed(&input, layers))?;
            Ok(Self {
                input,
                output,
                graph,
            })
        })
    }

    /// One step: uploads `parts` (ERB features, complex features) into the input, replays, and downloads
    /// the output into `outs` (gains, coefficients, LSNR).
    pub fn run(&mut self, parts: &[&[f32]], outs: &mut [&mut [f32]]) -> Result<()> {
        super::io::upload_into(&mut self.input, parts)?;
        self.graph.replay()?;
        super::io::download(&self.output, outs)
    }

    /// Nodes in the graph: the kernels (and copies) one step launches.
    pub fn nodes(&self) -> usize {
        self.graph.nodes()
    }
}

/// A whole-sequence forward for one `(batch, frames)` shape.
struct SeqGraph {
    shape: (usize, usize),
    input: Tensor,
    output: Tensor,
    // Declared last: dropped after the tensors that live in its pool.
    graph: CudaGraph,
}

impl SeqGraph {
    fn capture(net: &DfNet4, device: Device, shape: (usize, usize)) -> Result<Self> {
        let mut graph = CudaGraph::new(cuda_index(device)?)?;
        let (b, t) = (shape.0 as i64, shape.1 as i64);
        let input = Tensor::zeros([b * t * net.packed_input_len()], (Kind::Float, device));
        tch::no_grad(|| {
            graph.on_capture_stream(|| {
                for _ in 0..WARMUP_RUNS {
                    let _ = net.forward_seq_packed(&input, b, t);
                }
            })?;
            let output = graph.capture(|| net.forward_seq_packed(&input, b, t))?;
            Ok(Self {
                shape,
                input,
                output,
                graph,
            })
        })
    }
}

/// The sequence graphs of one backend, most recently used first.
#[derive(Default)]
pub struct SeqGraphs {
    graphs: Vec<SeqGraph>,
    seen: Vec<(usize, usize)>,
}

impl SeqGraphs {
    /// Runs the sequence of `shape` (`(batch, frames)`) through its graph, capturing it first on the
    /// shape's second use. Returns false, having done nothing, for a shape seen for the first time: the
    /// caller runs it eagerly.
    pub fn run(
        &mut self,
        net: &DfNet4,
        device: Device,
        shape: (usize, usize),
        parts: &[&[f32]],
        outs: &mut [&mut [f32]],
    ) -> Result<bool> {
        let pos = match self.graphs.iter().position(|g| g.shape == shape) {
            Some(pos) => pos,
            None => {
                if !self.seen.contains(&shape) {
                    if self.seen.len() == MAX_SEEN_SHAPES {
                        self.seen.remove(0);
                    }
                    self.seen.push(shape);
                    return Ok(false);
                }
                if self.graphs.len() == MAX_SEQ_GRAPHS {
                    // Frees the oldest graph's memory pool before the new capture needs one.
                    self.graphs.pop();
                }
                self.graphs.push(SeqGraph::capture(net, device, shape)?);
                self.graphs.len() - 1
            }
        };
        let g = self.graphs.remove(pos);
        self.graphs.insert(0, g);
        let g = &mut self.graphs[0];
        super::io::upload_into(&mut g.input, parts)?;
        g.graph.replay()?;
        super::io::download(&g.output, outs)?;
        Ok(true)
    }

    /// Shapes with a captured graph, most recently used first, with the graphs' node counts.
    pub fn captured(&self) -> Vec<((usize, usize), usize)> {
        self.graphs
            .iter()
            .map(|g| (g.shape, g.graph.nodes()))
            .collect()
    }
}
