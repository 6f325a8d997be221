//! The MLX backend (feature `mlx`): DfNet4 through `mlx-rs` on MLX's CPU ("mlx-cpu") or GPU
//! ("mlx-gpu": Metal on macOS, CUDA with the `mlx-cuda-13` build on Linux).
//!
//! The network is written once in lazy MLX operations ([`net`]) over the parameters in MLX layout
//! ([`params`]). `step` and `run_sequence` run it through `mlx_rs::transforms::compile` (the graph is
//! traced once per input shape, simplified and its elementwise chains fused), and evaluate explicitly
//! at the frame boundary: the outputs and the next recurrent state are materialised together before
//! the outputs are copied to the caller. [`MlxBackend::forward_backward`] differentiates the sequence
//! model with MLX's autograd (the bench's `--train-step`).
//!
//! MLX keeps process-wide state (default device, streams, the compile cache) and its arrays are not
//! `Sync`, so every call into MLX from this module holds one process-wide lock.
pub mod net;
pub mod params;
pub mod scan;
pub mod train;

use std::sync::{Mutex, MutexGuard};

use mlx_rs::error::Exception;
use mlx_rs::transforms::compile::compile;
use mlx_rs::{with_stream, Array, Device, DeviceType, Stream};

use self::net::Mx;
use self::params::Params;
use crate::backend::{
    check_sequence, check_step, Backend, Features, ModelOutput, SeqFeatures, SeqModelOutput,
};
use crate::config::ModelConfig;
use crate::model::Weights;
use crate::{Error, Result};

/// A compiled (or plain) graph function: arrays in, arrays out.
type GraphFn = Box<dyn FnMut(&[Array]) -> Mx<Vec<Array>>>;

/// Serialises every use of MLX in the process (see the module docs).
static MLX_LOCK: Mutex<()> = Mutex::new(());

fn mlx_lock() -> MutexGuard<'static, ()> {
    // A panic while holding the lock leaves no MLX state half-written that a later call could see.
    MLX_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The MLX devices a backend can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlxDevice {
    /// MLX's CPU backend.
    Cpu,
    /// MLX's GPU backend (Metal or CUDA).
    Gpu,
}

impl MlxDevice {
    fn device(self) -> Device {
        match self {
            Self::Cpu => Device::cpu(),
            Self::Gpu => Device::gpu(),
        }
    }

    /// The backend name of this device (from [`crate::backend::registry::BACKENDS`]).
    pub fn backend_name(self) -> &'static str {
        crate::backend::registry::mlx_name(self == Self::Gpu)
    }

    /// Whether the linked MLX build can run on this device here.
    pub fn is_available(self) -> bool {
        let kind = match self {
            Self::Cpu => DeviceType::Cpu,
            Self::Gpu => DeviceType::Gpu,
        };
        let _mlx = mlx_lock();
        let mut available = false;
        // SAFETY: the device handle is created and freed here; mlx_device_is_available only reads it
        // and writes the flag through a valid pointer.
        unsafe {
            let dev = mlx_sys::mlx_device_new_type(kind.into(), 0);
            let status = mlx_sys::mlx_device_is_available(&mut available, dev);
            mlx_sys::mlx_device_free(dev);
            status == 0 && available
        }
    }
}

/// `device` when the linked MLX build can run on it here, with a one-line reason (naming the backend
/// `name`) when it cannot. The names live in [`crate::backend::registry::BACKENDS`].
pub fn device(device: MlxDevice, name: &str) -> Result<MlxDevice> {
    if device.is_available() {
        Ok(device)
    } else {
        Err(Error::Backend(format!(
            "{name}: the linked MLX build has no usable {} here (Metal on macOS, the mlx-cuda-13 build with an NVIDIA GPU on Linux)",
            if device == MlxDevice::Gpu { "GPU" } else { "CPU" }
        )))
    }
}

/// Sets the thread count of the OpenBLAS that MLX's CPU matrix products run on, when one is loaded:
/// the `mlx-cpu` wheel links a single-threaded reference BLAS, which an `LD_PRELOAD`ed OpenBLAS
/// replaces (README "MLX backend"). Returns whether an OpenBLAS was found.
pub fn set_blas_threads(threads: usize) -> bool {
    let name = c"openblas_set_num_threads";
    // SAFETY: dlsym on the global scope with a valid NUL-terminated name; the symbol, when present,
    // is OpenBLAS's `void openblas_set_num_threads(int)`.
    unsafe {
        let f = libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr());
        if f.is_null() {
            return false;
        }
        let set: extern "C" fn(libc::c_int) = std::mem::transmute(f);
        set(libc::c_int::try_from(threads).unwrap_or(libc::c_int::MAX));
    }
    true
}

/// Everything that touches MLX objects; only used under [`MLX_LOCK`].
struct Inner {
    stream: Stream,
    params: Vec<Array>,
    step_fn: GraphFn,
    seq_fn: GraphFn,
    train_fn: Option<GraphFn>,
}

// SAFETY: `Inner` holds MLX handles (arrays, a stream, compiled closures) that MLX itself lets any
// thread use; they are not `Send` in mlx-rs only because MLX is not safe for concurrent use. Every
// access goes through `MlxBackend::inner`, taken only while holding the process-wide `MLX_LOCK`.
unsafe impl Send for Inner {}

/// DfNet4 on an MLX device.
pub struct MlxBackend {
    device: MlxDevice,
    cfg: ModelConfig,
    inner: Mutex<Inner>,
}

/// Recurrent state of `batch` streams: per Mamba block the conv ring `[B, K−1, di]` and the SSM state
/// `[B, di, N]`, as (evaluated) MLX arrays.
pub struct MlxState {
    batch: usize,
    conv: Vec<Array>,
    ssm: Vec<Array>,
    /// The zero state, kept so that a reset needs no MLX call (arrays are immutable, so sharing is safe).
    fresh: (Vec<Array>, Vec<Array>),
}

fn mx_err(name: &str, e: Exception) -> Error {
    Error::Backend(format!("{name}: {}", e.what()))
}

fn dim(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Copies an evaluated float array into `dst` (sizes must agree).
fn copy_out(a: &Array, dst: &mut [f32]) -> Mx<()> {
    let contiguous;
    let src = match a.try_as_slice::<f32>() {
        Ok(s) => s,
        Err(mlx_rs::error::AsSliceError::NotContiguous) => {
            contiguous = a.contiguous()?;
            contiguous
                .try_as_slice::<f32>()
                .map_err(|e| Exception::custom(e.to_string()))?
        }
        Err(e) => return Err(Exception::custom(e.to_string())),
    };
    if src.len() != dst.len() {
        return Err(Exception::custom(format!(
            "output has {} values, buffer {}",
            src.len(),
            dst.len()
        )));
    }
    dst.copy_from_slice(src);
    Ok(())
}

/// The step graph: inputs `[erb, spec, conv.., ssm.., params..]`, outputs
/// `[gains, coefs, lsnr, conv'.., ssm'..]`.
fn step_graph(cfg: ModelConfig) -> impl FnMut(&[Array]) -> Mx<Vec<Array>> + 'static {
    move |args: &[Array]| {
        let l = cfg.n_layers;
        let bad = || Exception::custom("step graph called with the wrong inputs");
        let (head, rest) = args.split_at_checked(2 + 2 * l).ok_or_else(bad)?;
        let p = Params::from_arrays(&cfg, rest).ok_or_else(bad)?;
        let mut conv = head[2..2 + l].to_vec();
        let mut ssm = head[2 + l..].to_vec();
        let o = net::forward_step(&p, &cfg, &head[0], &head[1], &mut conv, &mut ssm)?;
        let mut out = vec![o.gains, o.coefs, o.lsnr_db];
        out.extend(conv);
        out.extend(ssm);
        Ok(out)
    }
}

/// The sequence graph: inputs `[erb, spec, params..]`, outputs `[gains, coefs, lsnr]`.
fn seq_graph(cfg: ModelConfig) -> impl FnMut(&[Array]) -> Mx<Vec<Array>> + 'static {
    move |args: &[Array]| {
        let bad = || Exception::custom("sequence graph called with the wrong inputs");
        let (head, rest) = args.split_at_checked(2).ok_or_else(bad)?;
        let p = Params::from_arrays(&cfg, rest).ok_or_else(bad)?;
        let o = net::forward_seq(&p, &cfg, &head[0], &head[1])?;
        Ok(vec![o.gains, o.coefs, o.lsnr_db])
    }
}

impl MlxBackend {
    /// Copies `weights` to `device`, with the step and sequence graphs compiled.
    pub fn new(weights: &Weights, device: MlxDevice) -> Result<Self> {
        Self::with_compile(weights, device, true)
    }

    /// As [`MlxBackend::new`]; `compiled = false` runs the same graphs eagerly (for comparison).
    pub fn with_compile(weights: &Weights, device: MlxDevice, compiled: bool) -> Result<Self> {
        let cfg = weights.config().clone();
        let name = device.backend_name();
        let _mlx = mlx_lock();
        let dev = device.device();
        let stream = Stream::try_default_on_device(&dev).map_err(|e| mx_err(name, e))?;
        let params = with_stream(&stream, || Params::new(weights))?.to_arrays();
        mlx_rs::transforms::eval(params.iter()).map_err(|e| mx_err(name, e))?;
        let (step_fn, seq_fn): (GraphFn, GraphFn) = if compiled {
            (
                Box::new(compile(step_graph(cfg.clone()), false)),
                Box::new(compile(seq_graph(cfg.clone()), false)),
            )
        } else {
            (
                Box::new(step_graph(cfg.clone())),
                Box::new(seq_graph(cfg.clone())),
            )
        };
        Ok(Self {
            device,
            cfg,
            inner: Mutex::new(Inner {
                stream,
                params,
                step_fn,
                seq_fn,
                train_fn: None,
            }),
        })
    }

    /// The device the parameters live on.
    pub fn device(&self) -> MlxDevice {
        self.device
    }

    /// Runs `f` with MLX locked and this backend's stream (and device) as the default for new arrays.
    fn with_mlx<T>(&self, f: impl FnOnce(&mut Inner) -> Mx<T>) -> Result<T> {
        let _mlx = mlx_lock();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Operations that ignore the thread-local stream fall back to the default device.
        Device::set_default(&self.device.device());
        let stream = inner.stream.clone();
        with_stream(&stream, || f(&mut inner)).map_err(|e| mx_err(self.name(), e))
    }

    /// Waits until every operation queued on this backend's stream has finished.
    pub fn synchronize(&self) -> Result<()> {
        self.with_mlx(|inner| {
            // SAFETY: the stream handle is valid for the lifetime of `inner`.
            let status = unsafe { mlx_sys::mlx_synchronize(inner.stream.as_ptr()) };
            if status == 0 {
                Ok(())
            } else {
                Err(Exception::custom("synchronize failed"))
            }
        })
    }
}

impl Backend for MlxBackend {
    type State = MlxState;

    fn name(&self) -> &'static str {
        self.device.backend_name()
    }

    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn new_state(&self, batch: usize) -> Result<MlxState> {
        let cfg = &self.cfg;
        let (b, di) = (dim(batch), dim(cfg.d_inner()));
        let (k, n) = (dim(cfg.d_conv - 1), dim(cfg.d_state));
        let fresh = self.with_mlx(|_| {
            let conv = (0..cfg.n_layers)
                .map(|_| Array::zeros::<f32>(&[b, k, di]))
                .collect::<Mx<Vec<_>>>()?;
            let ssm = (0..cfg.n_layers)
                .map(|_| Array::zeros::<f32>(&[b, di, n]))
                .collect::<Mx<Vec<_>>>()?;
            mlx_rs::transforms::eval(conv.iter().chain(ssm.iter()))?;
            Ok((conv, ssm))
        })?;
        Ok(MlxState {
            batch,
            conv: fresh.0.clone(),
            ssm: fresh.1.clone(),
            fresh,
        })
    }

    fn reset_state(&self, state: &mut MlxState) {
        // Cloning bumps reference counts inside MLX, which must not race with other MLX calls.
        let _mlx = mlx_lock();
        state.conv.clone_from(&state.fresh.0);
        state.ssm.clone_from(&state.fresh.1);
    }

    fn step(&self, feats: &Features, state: &mut MlxState, out: &mut ModelOutput) -> Result<()> {
        let cfg = &self.cfg;
        check_step(cfg, feats, state.batch, out)?;
        let b = feats.batch;
        let l = cfg.n_layers;
        self.with_mlx(|inner| {
            let mut args = Vec::with_capacity(2 + 2 * l + inner.params.len());
            args.push(Array::from_slice(&feats.erb, &[dim(b), dim(cfg.nb_erb)]));
            args.push(Array::from_slice(&feats.spec, &[dim(b), 2, dim(cfg.nb_df)]));
            args.extend(state.conv.iter().cloned());
            args.extend(state.ssm.iter().cloned());
            args.extend(inner.params.iter().cloned());
            let outs = (inner.step_fn)(&args)?;
            if outs.len() != 3 + 2 * l {
                return Err(Exception::custom("step graph returned the wrong outputs"));
            }
            // The frame boundary: outputs and next state in one evaluation.
            mlx_rs::transforms::eval(outs.iter())?;
            copy_out(&outs[0], &mut out.gains)?;
            copy_out(&outs[1], &mut out.coefs)?;
            copy_out(&outs[2], &mut out.lsnr_db)?;
            state.conv = outs[3..3 + l].to_vec();
            state.ssm = outs[3 + l..].to_vec();
            Ok(())
        })
    }

    fn run_sequence(&self, feats: &SeqFeatures, out: &mut SeqModelOutput) -> Result<()> {
        let cfg = &self.cfg;
        check_sequence(cfg, feats, out)?;
        let (b, t) = (feats.batch, feats.frames);
        if b == 0 || t == 0 {
            return Ok(());
        }
        self.with_mlx(|inner| {
            let (bi, ti) = (dim(b), dim(t));
            let mut args = Vec::with_capacity(2 + inner.params.len());
            args.push(Array::from_slice(&feats.erb, &[bi, ti, dim(cfg.nb_erb)]));
            args.push(Array::from_slice(&feats.spec, &[bi, ti, 2, dim(cfg.nb_df)]));
            args.extend(inner.params.iter().cloned());
            let outs = (inner.seq_fn)(&args)?;
            if outs.len() != 3 {
                return Err(Exception::custom(
                    "sequence graph returned the wrong outputs",
                ));
            }
            mlx_rs::transforms::eval(outs.iter())?;
            copy_out(&outs[0], &mut out.gains)?;
            copy_out(&outs[1], &mut out.coefs)?;
            copy_out(&outs[2], &mut out.lsnr_db)
        })
    }
}
