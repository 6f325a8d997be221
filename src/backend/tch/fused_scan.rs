//! The fused selective scan for training (`csrc/selective_scan.cpp`): the Mamba recurrence
//! `h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t u_t B_t`, `y_t = Σ_n h_t C_t` as one autograd operation with a
//! hand-written backward: one pass over time forward and one backward, with the state in registers,
//! instead of the tensor form's dozens of passes over `[B, T, D, N]` tensors ([`super::scan`]).
//!
//! Which form training uses is a process-wide choice ([`set_training_scan`], or the `DFN4_TRAIN_SCAN`
//! environment variable: `fused` or `tensor`); inference never uses this (it scans in place, without
//! autograd). The fused form needs the embedded object to load (a `tch` build with CUDA headers on
//! Linux); on CUDA it takes float32 with `N = 16` and `D` a multiple of 16, on the CPU float32 or float64.
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use tch::{Device, Kind, Tensor};

use crate::{Error, Result};

/// How the training forward runs the selective scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainingScan {
    /// Differentiable tensor operations ([`super::scan::linear_scan`]): the reference.
    Tensor,
    /// The fused operation of this module, where it applies; the tensor form elsewhere.
    Fused,
}

impl TrainingScan {
    /// Parses `tensor` or `fused`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "tensor" => Ok(Self::Tensor),
            "fused" => Ok(Self::Fused),
            _ => Err(Error::InvalidInput(format!(
                "unknown scan {s:?} (tensor or fused)"
            ))),
        }
    }

    /// The name [`parse`](Self::parse) takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tensor => "tensor",
            Self::Fused => "fused",
        }
    }
}

/// 0: not chosen yet (read `DFN4_TRAIN_SCAN`), 1: tensor, 2: fused.
static MODE: AtomicU8 = AtomicU8::new(0);

/// Chooses the scan of every later training forward in this process.
pub fn set_training_scan(scan: TrainingScan) {
    MODE.store(
        match scan {
            TrainingScan::Tensor => 1,
            TrainingScan::Fused => 2,
        },
        Ordering::Relaxed,
    );
}

/// The scan training forwards use: as set, else `DFN4_TRAIN_SCAN`, else the tensor form.
pub fn training_scan() -> TrainingScan {
    match MODE.load(Ordering::Relaxed) {
        1 => TrainingScan::Tensor,
        2 => TrainingScan::Fused,
        _ => {
            let scan = std::env::var("DFN4_TRAIN_SCAN")
                .ok()
                .and_then(|s| TrainingScan::parse(&s).ok())
                .unwrap_or(TrainingScan::Tensor);
            set_training_scan(scan);
            scan
        }
    }
}

/// Whether the fused kernels take these shapes on this device and dtype (`u [B, T, D]`, `A [D, N]`).
pub fn applies(u: &Tensor, a: &Tensor) -> bool {
    let (d, n) = (u.size()[2], a.size()[1]);
    match (u.device(), u.kind()) {
        (Device::Cuda(_), Kind::Float) => n == 16 && d % 16 == 0,
        (Device::Cpu, Kind::Float | Kind::Double) => true,
        _ => false,
    }
}

/// `const char* dfn4_ss_last_error()`.
type LastErrorFn = unsafe extern "C" fn() -> *const c_char;
/// `int dfn4_ss_apply(u, delta, A, B, C, out)` over `at::Tensor*`.
type ApplyFn = unsafe extern "C" fn(
    *mut c_void,
    *mut c_void,
    *mut c_void,
    *mut c_void,
    *mut c_void,
    *mut *mut c_void,
) -> c_int;

struct Lib {
    last_error: LastErrorFn,
    apply: ApplyFn,
}

static LIB: OnceLock<std::result::Result<Lib, String>> = OnceLock::new();

fn lib() -> std::result::Result<&'static Lib, String> {
    LIB.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// Whether the fused scan can be used in this process, or the one-line reason it cannot.
pub fn availability() -> std::result::Result<(), String> {
    lib().map(|_| ())
}

#[cfg(not(dfn4_cuda_graph))]
fn load() -> std::result::Result<Lib, String> {
    Err(
        "this build has no fused selective scan (libtorch without CUDA headers, or not Linux)"
            .into(),
    )
}

/// Version of the C ABI this file expects (`kAbiVersion` in csrc/selective_scan.cpp).
#[cfg(dfn4_cuda_graph)]
const ABI_VERSION: c_int = 1;

#[cfg(dfn4_cuda_graph)]
static SO: &[u8] = include_bytes!(env!("DFN4_SELECTIVE_SCAN_SO"));

#[cfg(dfn4_cuda_graph)]
fn load() -> std::result::Result<Lib, String> {
    let lib = super::shim::EmbeddedLib::open(c"dfn4-selective-scan", SO, "the fused scan")?;
    lib.check_abi(c"dfn4_ss_abi_version", ABI_VERSION)?;
    // SAFETY (all transmutes): each symbol is the object's `extern "C"` function of exactly that
    // signature (csrc/selective_scan.cpp); the ABI version was checked above.
    unsafe {
        use std::mem::transmute;
        Ok(Lib {
            last_error: transmute::<*mut c_void, LastErrorFn>(lib.sym(c"dfn4_ss_last_error")?),
            apply: transmute::<*mut c_void, ApplyFn>(lib.sym(c"dfn4_ss_apply")?),
        })
    }
}

/// `y [B, T, D] = Σ_n h [B, T, D, N] · C [B, T, N]` with `h_t = exp(Δ_t A) h_{t−1} + Δ_t u_t B_t`,
/// differentiable in `u`, `delta` (`[B, T, D]`), `a` (`[D, N]`, the negative rates), `b` and `c`
/// (`[B, T, N]`). Errors when the object is missing or the inputs do not fit ([`applies`]).
pub fn selective_scan(
    u: &Tensor,
    delta: &Tensor,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
) -> Result<Tensor> {
    let lib = lib().map_err(Error::Backend)?;
    let mut out: *mut c_void = std::ptr::null_mut();
    let ptr = |t: &Tensor| t.as_ptr() as *mut c_void;
    // SAFETY: every pointer is a live tch tensor (an `at::Tensor*`) that the call only reads; `out`
    // receives a new `at::Tensor*` whose ownership passes to the returned `Tensor`.
    let status = unsafe { (lib.apply)(ptr(u), ptr(delta), ptr(a), ptr(b), ptr(c), &mut out) };
    if status != 0 || out.is_null() {
        // SAFETY: a NUL-terminated thread-local message, copied out at once.
        let msg = unsafe { CStr::from_ptr((lib.last_error)()) }
            .to_string_lossy()
            .into_owned();
        return Err(Error::Backend(format!(
            "fused selective scan failed: {msg}"
        )));
    }
    // SAFETY: `out` is a fresh `at::Tensor*` allocated by the object for us (see above).
    Ok(unsafe { Tensor::from_ptr(out as *mut torch_sys::C_tensor) })
}

/// The tensor form of [`selective_scan`] ([`super::scan::linear_scan`] over `[B, T, D, N]`): the
/// reference that the fused form must equal.
pub fn reference_scan(u: &Tensor, delta: &Tensor, a: &Tensor, b: &Tensor, c: &Tensor) -> Tensor {
    let decay = (delta.unsqueeze(-1) * a).exp();
    let input = (delta * u).unsqueeze(-1) * b.unsqueeze(-2);
    super::scan::linear_scan(&decay, &input)
        .matmul(&c.unsqueeze(-1))
        .squeeze_dim(-1)
}

/// Largest relative difference (‖fused − reference‖∞ / ‖reference‖∞) between the fused and the tensor
/// form of `y` and of the gradients of `Σ w·y` with respect to all five inputs, on seeded random inputs
/// of shape `[batch, frames, d]`, `N = 16`, in `kind` on `device`.
pub fn max_relative_error(
    device: Device,
    kind: Kind,
    batch: i64,
    frames: i64,
    d: i64,
    seed: i64,
) -> Result<f64> {
    tch::manual_seed(seed);
    let n = 16;
    let opts = (kind, device);
    let leaf = |t: Tensor| t.set_requires_grad(true);
    let u = leaf(Tensor::randn([batch, frames, d], opts));
    // softplus outputs (positive step sizes) and −exp(a_log) rates as in the model.
    let delta = leaf((Tensor::randn([batch, frames, d], opts) - 1.0).softplus());
    let a = leaf(-(Tensor::rand([d, n], opts) * 3.0).exp());
    let b = leaf(Tensor::randn([batch, frames, n], opts));
    let c = leaf(Tensor::randn([batch, frames, n], opts));
    let w = Tensor::randn([batch, frames, d], opts);
    let inputs = [&u, &delta, &a, &b, &c];
    let run = |fused: bool| -> Result<Vec<Tensor>> {
        let y = if fused {
            selective_scan(&u, &delta, &a, &b, &c)?
        } else {
            reference_scan(&u, &delta, &a, &b, &c)
        };
        let grads = Tensor::run_backward(&[(&y * &w).sum(kind)], &inputs, false, false);
        // An input that the graph does not reach (A when T = 1 in the tensor form) has no gradient.
        let grads = grads
            .into_iter()
            .zip(inputs)
            .map(|(g, x)| if g.defined() { g } else { x.zeros_like() });
        Ok(std::iter::once(y.detach()).chain(grads).collect())
    };
    let (got, want) = (run(true)?, run(false)?);
    Ok(got
        .iter()
        .zip(&want)
        .map(|(g, w)| {
            let scale = w.abs().max().double_value(&[]).max(1e-30);
            (g - w).abs().max().double_value(&[]) / scale
        })
        .fold(0.0, f64::max))
}
