//! The libtorch backend (feature `tch`): DfNet4 on CPU, CUDA or MPS through `tch`.
//!
//! The network itself is [`net::DfNet4`], which the trainer uses too; this module adapts it to the
//! [`Backend`] trait (plain `f32` slices in and out, state tensors kept on the device between steps).
pub mod net;
pub mod scan;

use tch::{nn, Device, Kind, Tensor};

use self::net::{DfNet4, LayerState, NetOutput};
use crate::backend::{Backend, Features, ModelOutput, SeqFeatures, SeqModelOutput};
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

/// The device of the backend called `name` ("tch-cpu", "tch-cuda", "tch-mps") when this machine has it,
/// with a one-line reason when it does not. Loads libtorch's CUDA kernels ([`register_cuda`]) before
/// asking for CUDA, since without them CUDA never reports as available.
pub fn backend_device(name: &str) -> Result<Device> {
    let missing = |what: &str| {
        Err(Error::Backend(format!(
            "{name}: {what} is not available on this machine"
        )))
    };
    match name {
        "tch-cpu" => Ok(Device::Cpu),
        "tch-cuda" => {
            register_cuda();
            if tch::Cuda::is_available() {
                Ok(Device::Cuda(0))
            } else {
                missing("CUDA")
            }
        }
        "tch-mps" => {
            if tch::utils::has_mps() {
                Ok(Device::Mps)
            } else {
                missing("MPS")
            }
        }
        _ => Err(Error::Config(format!(
            "unknown tch backend \"{name}\" (tch-cpu, tch-cuda, tch-mps)"
        ))),
    }
}

/// DfNet4 on a libtorch device.
pub struct TchBackend {
    name: &'static str,
    device: Device,
    vs: nn::VarStore,
    net: DfNet4,
}

// SAFETY: the parameter values are never mutated after construction (inference runs under no_grad and
// only reads parameters), and libtorch allows concurrent reads of a tensor from several threads. The one
// writer, `forward_backward`, only touches the parameters' gradient tensors, which inference never reads,
// and libtorch accumulates gradients under a per-variable lock.
unsafe impl Sync for TchBackend {}
// SAFETY: tch tensors are Send; the raw handles carry no thread affinity.
unsafe impl Send for TchBackend {}

/// Recurrent state of `batch` streams: per Mamba block the conv ring and SSM state, on the device.
pub struct TchState {
    batch: usize,
    layers: Vec<LayerState>,
}

impl TchBackend {
    /// Copies `weights` into a var store on `device` (names and shapes exactly as in `model::spec`).
    pub fn new(weights: &Weights, device: Device) -> Result<Self> {
        let vs = nn::VarStore::new(device);
        let net = DfNet4::new(&vs.root(), weights)?;
        let name = match device {
            Device::Cpu => "tch-cpu",
            Device::Cuda(_) => "tch-cuda",
            Device::Mps => "tch-mps",
            _ => "tch-other",
        };
        Ok(Self {
            name,
            device,
            vs,
            net,
        })
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
        check_len("erb features", feats.erb.len(), b * t * cfg.nb_erb)?;
        check_len("complex features", feats.spec.len(), b * t * 2 * cfg.nb_df)?;
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

/// Copies a float tensor into `dst` (sizes must agree).
fn copy_out(t: &Tensor, dst: &mut [f32]) -> Result<()> {
    let t = t.to_kind(Kind::Float).to_device(Device::Cpu).contiguous();
    let n = t.numel();
    if n != dst.len() {
        return Err(Error::Backend(format!(
            "output has {n} values, buffer {}",
            dst.len()
        )));
    }
    t.copy_data(dst, n);
    Ok(())
}

fn check_len(what: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{what} has {got} values, expected {want}"
        )))
    }
}

fn copy_outputs(
    o: &NetOutput,
    gains: &mut [f32],
    coefs: &mut [f32],
    lsnr: &mut [f32],
) -> Result<()> {
    copy_out(&o.gains, gains)?;
    copy_out(&o.coefs, coefs)?;
    copy_out(&o.lsnr_db, lsnr)
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
        let cfg = self.net.config();
        let b = feats.batch;
        if state.batch != b || out.batch != b {
            return Err(Error::InvalidInput(format!(
                "batch mismatch: features {b}, state {}, output {}",
                state.batch, out.batch
            )));
        }
        check_len("erb features", feats.erb.len(), b * cfg.nb_erb)?;
        check_len("complex features", feats.spec.len(), b * 2 * cfg.nb_df)?;
        let erb = self.input(&feats.erb, &[b as i64, cfg.nb_erb as i64]);
        let spec = self.input(&feats.spec, &[b as i64, 2, cfg.nb_df as i64]);
        let o = tch::no_grad(|| self.net.forward_step(&erb, &spec, &mut state.layers));
        copy_outputs(&o, &mut out.gains, &mut out.coefs, &mut out.lsnr_db)
    }

    fn run_sequence(&self, feats: &SeqFeatures, out: &mut SeqModelOutput) -> Result<()> {
        let (b, t) = (feats.batch, feats.frames);
        if out.batch != b || out.frames != t {
            return Err(Error::InvalidInput(format!(
                "output sized for {}x{} frames, features are {b}x{t}",
                out.batch, out.frames
            )));
        }
        let (erb, spec) = self.seq_tensors(feats)?;
        if b == 0 || t == 0 {
            return Ok(());
        }
        let o = tch::no_grad(|| self.net.forward_seq(&erb, &spec));
        copy_outputs(&o, &mut out.gains, &mut out.coefs, &mut out.lsnr_db)
    }
}
